/*
 * atomic.c -- writing a file so that a reader sees the old file or the whole new one, never a part:
 * a temporary file beside it, flushed, fsync'ed, renamed over the path, and the folder fsync'ed.
 * Model saves use it, and rnnlm for every file it writes.
 */
#include "atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folder of path into dir ("." without a slash, "/" for a file at the root); returns the file
 * name part of path. */
static const char *split_dir(const char *path, char *dir, size_t dirsz)
{
    snprintf(dir, dirsz, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        snprintf(dir, dirsz, ".");
        return path;
    }
    const char *base = path + (slash - dir) + 1;
    if (slash == dir) dir[1] = 0;
    else *slash = 0;
    return base;
}

/* Removes base.tmp.<pid>.<n> files in dir left by saves of the same path whose process is gone
 * (killed mid-save): only names of exactly that form, and only when no process <pid> exists. */
static void remove_stale_temps(const char *dir, const char *base)
{
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0) continue;
        char *end;
        errno = 0;
        long pid = strtol(n + blen + 5, &end, 10);
        if (errno || pid <= 0 || *end != '.' || !end[1]) continue;
        char *end2;
        strtoul(end + 1, &end2, 10);
        if (*end2 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        unlink(full);
    }
    closedir(d);
}

/* Creates path.tmp.<pid>.<n> exclusively, mode 0666 less the umask (or the mode of the file it
 * will replace), so the saved file gets the permissions a plain fopen would give it. */
static int open_temp(const char *path, char *tmp, size_t tmpsz)
{
    struct stat st;
    int have_old = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    uintptr_t salt = (uintptr_t)tmp;
    for (unsigned n = 0; n < 100; n++) {
        snprintf(tmp, tmpsz, "%s.tmp.%ld.%u", path, (long)getpid(), (unsigned)(salt % 100000u) + n);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            if (have_old) (void)fchmod(fd, st.st_mode & 07777);
            return fd;
        }
        if (errno != EEXIST) return -1;
    }
    return -1;
}

int rnn__atomic_open(rnn__atomic *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!path || !path[0]) return rnn__bufail(err, errlen, RNN_ERR_INVALID, "no path to write to");
    if (strlen(path) > RNN__PATH_MAX) return rnn__bufail(err, errlen, RNN_ERR_INVALID, "path too long: %.200s...", path);
    a->path = path;
    const char *base = split_dir(path, a->dir, sizeof a->dir);
    remove_stale_temps(a->dir, base);
    int fd = open_temp(path, a->tmp, sizeof a->tmp);
    if (fd < 0)
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot create a temporary file beside %.200s: %s", path,
                           strerror(errno));
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot open %.200s: %s", a->tmp, strerror(e));
    }
    return RNN_OK;
}

int rnn__atomic_close(rnn__atomic *a, int commit, char *err, size_t errlen)
{
    if (!a->f) return RNN_ERR_INVALID;
    int e = 0;
    errno = 0;
    if (commit && (ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) e = errno ? errno : EIO;
    if (fclose(a->f) != 0 && commit && !e) e = errno ? errno : EIO;
    a->f = NULL;
    if (commit && !e && rename(a->tmp, a->path) != 0) e = errno;
    if (!commit || e) {
        unlink(a->tmp);
        if (!commit) return RNN_OK;
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot write %.200s: %s", a->path, strerror(e));
    }
    /* make the rename itself durable */
    int dfd = open(a->dir, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return RNN_OK;
}
