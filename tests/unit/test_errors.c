/* Unit tests of lib/errors.c: every MS_E_* code has a complete entry. */
#include <ctype.h>
#include <string.h>

#include <ms/errors.h>

#include "tap.h"

/* "4.3.1": class.subject.detail, the class matching the reply's first digit. */
static int status_ok(int reply, const char *status)
{
	const char *p = status;

	if (status == NULL || p[0] != '0' + reply / 100 || p[1] != '.')
		return 0;
	p += 2;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != '.' || !isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == '\0';
}

int main(void)
{
	int code;

	for (code = 0; code < MS_E_COUNT; code++) {
		const struct ms_error_info *e = ms_error_info((enum ms_error)code);
		size_t i;

		CHECK(e != NULL);
		if (e == NULL)
			continue;
		CHECK_INT(e->code, code);
		CHECK_MSG(e->name != NULL && strncmp(e->name, "MS_E_", 5) == 0,
			  "code %d: name", code);
		CHECK_MSG(e->text != NULL && e->text[0] != '\0', "code %d: text", code);
		CHECK_MSG(e->smtp_reply >= 200 && e->smtp_reply <= 599, "code %d: reply %d", code,
			  e->smtp_reply);
		CHECK_MSG(status_ok(e->smtp_reply, e->smtp_status), "code %d: %d %s", code,
			  e->smtp_reply, e->smtp_status ? e->smtp_status : "(null)");
		if (code != MS_E_NONE)
			CHECK_MSG(e->smtp_reply >= 400, "code %d is an error but replies %d", code,
				  e->smtp_reply);
		if (e->imap_code != NULL) {
			CHECK(e->imap_code[0] != '\0');
			for (i = 0; e->imap_code[i] != '\0'; i++)
				CHECK(isupper((unsigned char)e->imap_code[i]));
		}
		/* names are distinct */
		{
			int other;

			for (other = 0; other < code; other++)
				CHECK(strcmp(ms_error_info((enum ms_error)other)->name, e->name) != 0);
		}
	}
	/* a few of the RFC mappings the protocols rely on */
	CHECK_STR(ms_error_info(MS_E_OVERQUOTA)->imap_code, "OVERQUOTA");
	CHECK_STR(ms_error_info(MS_E_AUTHFAIL)->imap_code, "AUTHENTICATIONFAILED");
	CHECK_INT(ms_error_info(MS_E_AUTHFAIL)->smtp_reply, 535);
	CHECK_STR(ms_error_info(MS_E_NOUSER)->smtp_status, "5.1.1");
	CHECK_STR(ms_error_info(MS_E_NOSPACE)->smtp_status, "4.3.1");
	CHECK_STR(ms_error_info(MS_E_NOMAILBOX)->imap_code, "NONEXISTENT");
	CHECK_STR(ms_error_info(MS_E_EXISTS)->imap_code, "ALREADYEXISTS");
	/* unknown codes fall back to MS_E_INTERNAL */
	CHECK(ms_error_info(MS_E_COUNT) == ms_error_info(MS_E_INTERNAL));
	CHECK(ms_error_info((enum ms_error)-1) == ms_error_info(MS_E_INTERNAL));
	CHECK_STR(ms_error_info(MS_E_INTERNAL)->imap_code, "SERVERBUG");
	return tap_done();
}
