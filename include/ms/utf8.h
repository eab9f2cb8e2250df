/*
 * utf8: validation of UTF-8 text (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).  Configuration values and names must
 * be valid UTF-8 without control characters, because config.xml is XML 1.0.
 */
#ifndef MS_UTF8_H
#define MS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8. */
bool ms_utf8_valid(const char *s, size_t len);
/* True when s is valid UTF-8 holding no C0 control (tab allowed if allow_tab) or DEL. */
bool ms_utf8_text(const char *s, bool allow_tab);

#endif
