/* Unit tests of lib/utf8.c. */
#include <string.h>

#include <ms/utf8.h>

#include "tap.h"

static bool v(const char *s)
{
	return ms_utf8_valid(s, strlen(s));
}

int main(void)
{
	CHECK(v(""));
	CHECK(v("plain ascii"));
	CHECK(v("h\xc3\xa9llo"));              /* é */
	CHECK(v("\xe2\x82\xac"));              /* € */
	CHECK(v("\xf0\x9f\x98\x80"));          /* U+1F600 */
	CHECK(v("\xf4\x8f\xbf\xbf"));          /* U+10FFFF */
	CHECK(!v("\xff"));
	CHECK(!v("\x80"));                     /* lone continuation */
	CHECK(!v("\xc3"));                     /* truncated */
	CHECK(!v("\xe2\x82"));                 /* truncated */
	CHECK(!v("\xc0\xaf"));                 /* overlong '/' */
	CHECK(!v("\xe0\x80\xaf"));             /* overlong */
	CHECK(!v("\xed\xa0\x80"));             /* surrogate U+D800 */
	CHECK(!v("\xf4\x90\x80\x80"));         /* beyond U+10FFFF */
	CHECK(!v("\xc3\x28"));                 /* bad continuation */
	CHECK(ms_utf8_text("a\tb", true));
	CHECK(!ms_utf8_text("a\tb", false));
	CHECK(!ms_utf8_text("a\nb", true));
	CHECK(!ms_utf8_text("a\x7f", true));
	CHECK(!ms_utf8_text("\x01", true));
	CHECK(ms_utf8_text("Internal (Software) Token", false));
	return tap_done();
}
