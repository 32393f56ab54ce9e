/*
 * atomic.c -- writing a file so that a reader sees the old file or the whole new one, never a part:
 * a temporary file beside it, flushed, fsync'ed, renamed over the path, and the folder fsync'ed.
 * Model saves use it, and rnnlm for every file it writes.
 *
 * A symbolic link is followed: the temporary goes beside the file it names, which the rename
 * replaces (the link stays). Every temporary is flock'ed by its writer until it is renamed or
 * removed, so the sweep of temporaries left by killed processes removes only unlocked ones (a
 * process id says nothing about a writer in another PID namespace).
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* flock */
#endif
#include "atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

/* Follows the symbolic links of path (at most 40) into out (outsz bytes): the name that is not a
 * link, existing or not. -1 with errno when a link cannot be read or the result is too long. */
static int follow_links(const char *path, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", path);
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(out, &st) != 0 || !S_ISLNK(st.st_mode)) return 0; /* the open reports other errors */
        char link[RNN__PATH_MAX + 8];
        ssize_t n = hops < 40 ? readlink(out, link, sizeof link) : (errno = ELOOP, -1);
        if (n < 0) return -1;
        if ((size_t)n >= sizeof link) return errno = ENAMETOOLONG, -1;
        link[n] = 0;
        char *slash = strrchr(out, '/');
        size_t keep = link[0] == '/' || !slash ? 0 : (size_t)(slash - out) + 1; /* relative: beside the link */
        if (keep + (size_t)n >= outsz) return errno = ENAMETOOLONG, -1;
        memcpy(out + keep, link, (size_t)n + 1);
    }
}

/* Removes base.tmp.<pid>.<n> files in dir that no writer holds locked (left by killed saves of
 * the same target): only regular files of exactly that name form, locked here before the unlink. */
static void remove_stale_temps(const char *dir, const char *base)
{
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0) continue;
        char *end, *end2;
        errno = 0;
        long pid = strtol(n + blen + 5, &end, 10);
        if (errno || pid <= 0 || *end != '.' || !end[1]) continue;
        strtoul(end + 1, &end2, 10);
        if (*end2) continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 && errno == EACCES) fd = open(full, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat fs, ns;
        /* still the file locked (its writer renames it before unlocking it) */
        if (fstat(fd, &fs) == 0 && S_ISREG(fs.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 && lstat(full, &ns) == 0 &&
            ns.st_dev == fs.st_dev && ns.st_ino == fs.st_ino)
            unlink(full);
        close(fd);
    }
    closedir(d);
}

/* Creates target.tmp.<pid>.<n> exclusively, mode 0666 less the umask (or the mode of the file it
 * will replace), so the saved file gets the permissions a plain fopen would give it; and locks it.
 * A sweep may remove the name between the create and the lock: then another name. */
static int open_temp(const char *target, char *tmp, size_t tmpsz)
{
    struct stat st, fs;
    int have_old = stat(target, &st) == 0 && S_ISREG(st.st_mode);
    uintptr_t salt = (uintptr_t)tmp;
    for (unsigned n = 0; n < 100; n++) {
        snprintf(tmp, tmpsz, "%s.tmp.%ld.%u", target, (long)getpid(), (unsigned)(salt % 100000u) + n);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno != EEXIST) return -1;
            continue;
        }
        /* (a file system without flock: unlocked, but then no sweep can lock it either) */
        int locked;
        while ((locked = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {}
        if (locked == 0 && fstat(fd, &fs) == 0 && fs.st_nlink == 0) { /* swept before the lock */
            close(fd);
            continue;
        }
        if (have_old) (void)fchmod(fd, st.st_mode & 07777);
        return fd;
    }
    return -1;
}

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m)    ? "folder"
           : S_ISCHR(m)  ? "character device"
           : S_ISBLK(m)  ? "block device"
           : S_ISFIFO(m) ? "FIFO"
           : S_ISSOCK(m) ? "socket"
                         : "special file";
}

/* A descriptor writing to the character device, FIFO or socket at path; -1 with errno. */
static int open_direct(const char *path, mode_t mode)
{
    if (!S_ISSOCK(mode)) return open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) return errno = ENAMETOOLONG, -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        return errno = e, -1;
    }
    return fd;
}

/* a->f on the device, FIFO or socket at path itself (st: its stat) */
static int open_in_place(rnn__atomic *a, const char *path, const struct stat *st, char *err, size_t errlen)
{
    int fd = open_direct(path, st->st_mode);
    if (fd < 0)
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot write to the %s %.200s: %s", kind_of(st->st_mode), path,
                           strerror(errno));
    struct stat now;
    if (fstat(fd, &now) != 0 || S_ISREG(now.st_mode) || S_ISDIR(now.st_mode)) { /* replaced meanwhile */
        close(fd);
        errno = 0;
        return rnn__bufail(err, errlen, RNN_ERR_IO, "%.200s changed while it was opened", path);
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot open %.200s: %s", path, strerror(e));
    }
    a->direct = 1;
    return RNN_OK;
}

int rnn__atomic_openf(rnn__atomic *a, const char *path, unsigned flags, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!path || !path[0]) return rnn__bufail(err, errlen, RNN_ERR_INVALID, "no path to write to");
    if (strlen(path) > RNN__PATH_MAX) return rnn__bufail(err, errlen, RNN_ERR_INVALID, "path too long: %.200s...", path);
    a->path = path;
    /* what path names, through every link (/proc/self/fd/N included): only a regular file is replaced */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        mode_t m = st.st_mode;
        if ((flags & RNN__ATOMIC_DIRECT) && (S_ISCHR(m) || S_ISFIFO(m) || S_ISSOCK(m)))
            return open_in_place(a, path, &st, err, errlen);
        errno = 0;
        return rnn__bufail(err, errlen, RNN_ERR_IO, "%.200s is a %s%s", path, kind_of(m),
                           flags & RNN__ATOMIC_DIRECT
                               ? ": not written"
                               : ", not a regular file (only a regular file or a new path is written)");
    }
    if (follow_links(path, a->target, RNN__PATH_MAX + 1) != 0) /* the temporary's name has room */
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot follow the link %.200s: %s", path, strerror(errno));
    const char *base = split_dir(a->target, a->dir, sizeof a->dir);
    remove_stale_temps(a->dir, base);
    int fd = open_temp(a->target, a->tmp, sizeof a->tmp);
    if (fd < 0)
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot create a temporary file beside %.200s: %s", a->target,
                           strerror(errno));
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        unlink(a->tmp);
        close(fd);
        return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot open %.200s: %s", a->tmp, strerror(e));
    }
    return RNN_OK;
}

int rnn__atomic_open(rnn__atomic *a, const char *path, char *err, size_t errlen)
{
    return rnn__atomic_openf(a, path, RNN__ATOMIC_DIRECT, err, errlen);
}

int rnn__atomic_close(rnn__atomic *a, int commit, char *err, size_t errlen)
{
    if (!a->f) return RNN_ERR_INVALID;
    int e = 0;
    errno = 0;
    if (commit && (ferror(a->f) || fflush(a->f) != 0 || (!a->direct && fsync(fileno(a->f)) != 0)))
        e = errno ? errno : EIO;
    if (a->direct) {
        if (fclose(a->f) != 0 && commit && !e) e = errno ? errno : EIO;
    } else {
        /* renamed or removed while still locked, so that no sweep takes it for a leftover; a close
         * after a successful fsync has nothing left to report */
        if (commit && !e && rename(a->tmp, a->target) != 0) e = errno;
        if (!commit || e) unlink(a->tmp);
        fclose(a->f);
    }
    a->f = NULL;
    if (!commit) return RNN_OK;
    if (e) return rnn__bufail(err, errlen, RNN_ERR_IO, "cannot write %.200s: %s", a->path, strerror(e));
    if (a->direct) return RNN_OK;
    /* make the rename itself durable */
    int dfd = open(a->dir, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return RNN_OK;
}
