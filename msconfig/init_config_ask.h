/*
 * init_config_ask.h: the terminal questions of init-config
 * (init_config_ask.c), private to init-config.
 */
#ifndef INIT_CONFIG_ASK_H
#define INIT_CONFIG_ASK_H

#include <stdbool.h>

#include <ms/buf.h>

/* Checks an answer: true if good, else false with why saying what is wanted. */
typedef bool check_fn(const char *value, struct ms_buf *why);

char *init_config_ask(const char *question, const char *def, check_fn *check);
char *init_config_ask_secret(const char *prompt);
bool init_config_ask_check_hostname(const char *v, struct ms_buf *why);
bool init_config_ask_check_address(const char *v, struct ms_buf *why);
bool init_config_ask_check_ldap_url(const char *v, struct ms_buf *why);
bool init_config_ask_check_dn(const char *v, struct ms_buf *why);
bool init_config_ask_check_base_dn(const char *v, struct ms_buf *why);

#endif
