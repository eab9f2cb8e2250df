/*
 * reload: load, check, swap, log.  See include/ms/reload.h.
 */
#include <stddef.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/log.h>
#include <ms/reload.h>

int ms_reload(struct ms_conf **conf, const struct ms_reload_hooks *hooks, struct ms_buf *why)
{
	struct ms_conf *fresh = NULL, *old;
	struct ms_buf reason;

	ms_buf_init(&reason);
	if (ms_conf_load_default(&fresh, &reason) < 0 ||
	    (hooks != NULL && hooks->check != NULL && hooks->check(fresh, &reason, hooks->ctx) < 0)) {
		if (*conf != NULL)
			ms_log_error("configuration not reloaded, generation %lu stays in use: %s",
				     ms_conf_generation(*conf), reason.data);
		ms_buf_puts(why, reason.data);
		ms_buf_deinit(&reason);
		ms_conf_free(&fresh);
		return -1;
	}
	ms_buf_deinit(&reason);
	old = *conf;
	*conf = fresh;
	if (hooks != NULL && hooks->apply != NULL)
		hooks->apply(old, fresh, hooks->ctx);
	ms_conf_free(&old);
	ms_log_notice("config generation %lu loaded", ms_conf_generation(fresh));
	return 0;
}
