/*
 * store_lock: open-file-description locks on stage files (see the header).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store_lock.h"

static int ofd_setlk(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0; /* whole file */
	fl.l_pid = 0; /* required by OFD locks */
	return fcntl(fd, F_OFD_SETLK, &fl);
}

int store_lock_fd(int fd)
{
	if (ofd_setlk(fd, F_WRLCK) < 0) {
		if (errno == EACCES)
			errno = EAGAIN;
		return -1;
	}
	return 0;
}

int store_lock_abandoned(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = ofd_setlk(fd, F_WRLCK);
	saved = errno;
	close(fd); /* releases our probe lock */
	if (rc == 0)
		return 1;
	if (saved == EAGAIN || saved == EACCES)
		return 0;
	errno = saved;
	return -1;
}
