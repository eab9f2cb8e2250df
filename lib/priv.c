/* priv: dropping root after binding; see include/ms/priv.h. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/path.h>
#include <ms/priv.h>

char *ms_priv_restricted_value(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			return ms_xstrndup(p + klen + 1, strcspn(p + klen + 1, "\r\n"));
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

int ms_priv_drop(const char *chown_path, char **user_r, struct ms_buf *why)
{
	struct ms_buf text;
	char *path, *user = NULL, *group = NULL;
	struct passwd *pw;
	struct group *gr = NULL;
	gid_t gid;
	int ret = -1;

	if (user_r != NULL)
		*user_r = NULL;
	if (geteuid() != 0)
		return 0;
	ms_buf_init(&text);
	path = ms_instance_path("config/restricted.cnf");
	if (ms_file_read(path, &text, why) == 0) {
		user = ms_priv_restricted_value(text.data, "user");
		group = ms_priv_restricted_value(text.data, "group");
	}
	if (user == NULL) {
		if (why->len == 0)
			ms_buf_setf(why, "%s names no user", path);
		ms_buf_printf(why, " (started as root: refusing to serve as root)");
		goto out;
	}
	pw = getpwnam(user);
	if (pw == NULL) {
		ms_buf_setf(why, "%s: no user %s", path, user);
		goto out;
	}
	if (group != NULL && (gr = getgrnam(group)) == NULL) {
		ms_buf_setf(why, "%s: no group %s", path, group);
		goto out;
	}
	gid = gr != NULL ? gr->gr_gid : pw->pw_gid;
	if (pw->pw_uid != 0) {
		if ((chown_path != NULL && chown(chown_path, pw->pw_uid, gid) < 0) ||
		    setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
			ms_buf_setf(why, "cannot become %s: %s", user, strerror(errno));
			goto out;
		}
	}
	if (user_r != NULL) {
		*user_r = user;
		user = NULL;
	}
	ret = 0;
out:
	free(path);
	free(user);
	free(group);
	ms_buf_deinit(&text);
	return ret;
}
