/* crash_shim.c — an LD_PRELOAD library for tests/cli/test_crash.sh: it kills the process with
 * SIGKILL at one chosen libc call of a checkpoint write, so that the test's kills land at fixed
 * points (mid-write, before fsync, before rename, after rename) on every machine, fast or slow.
 * Build: cc -shared -fPIC -o shim.so tests/cli/crash_shim.c -ldl
 *
 * It watches the calls the atomic writer in src/io/safetensors.c (dt_st_write) makes:
 * fopen(tmp, "wb"), fwrite x n, fflush, fsync(fileno), fclose, rename(tmp, path). Only files
 * whose name contains CRASH_FILE (e.g. "ckpt.duet": matches "ckpt.duet" and "ckpt.duet.tmp")
 * count, so reading the data or writing the final model shifts nothing. Each fopen for writing
 * of such a file starts a checkpoint write; the other calls are counted within it.
 *
 * Environment:
 *   CRASH_FILE  the checkpoint's file name (or part of it)
 *   CRASH_AT    K:OP:N:WHEN[:lose]  the K-th checkpoint write of this process, its N-th call of
 *               OP (fwrite, fflush, fsync (fdatasync too), fclose, rename (renameat too)),
 *               before or after the call is forwarded to libc. With ":lose", the kill is also a
 *               simulated power loss: whatever was written to the checkpoint's files and not
 *               yet fsynced is dropped (the file is cut back to its size at its last fsync, 0
 *               if none; names created and renamed stay), the pessimistic model under which a
 *               rename before fsync can leave an empty file at the target.
 *   CRASH_TRACE when set, each counted call is printed to stderr ("crash_shim: 2 fwrite 5 ...")
 * A spec that does not parse exits with status 99. If the writer stops using these calls (say
 * it moves to open/write), the kill point is never reached, the run ends normally and the
 * test, which wants exit status 137 at each kill point, fails instead of passing vacuously.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FWRITE, FFLUSH, FSYNC, FCLOSE, RENAME, NOPS };
static const char *op_names[NOPS] = {"fwrite", "fflush", "fsync", "fclose", "rename"};

static int inited, tracing;
static const char *file_name;                    /* CRASH_FILE */
static int at_k = -1, at_op = -1, at_n = -1, at_after, at_lose;
static int ckpt;                                 /* checkpoint writes started so far */
static int count[NOPS];                          /* calls within the current one */

/* the files written (for ":lose"): where each is now, and its size at its last fsync */
#define NREC 8
static struct rec {
    int used, fd;
    FILE *fp;
    dev_t dev;
    ino_t ino;
    off_t synced;
    char path[4096];
} recs[NREC];
static int cur = -1;                             /* the record of the write in progress */

static void init(void) {
    if (inited) return;
    inited = 1;
    tracing = getenv("CRASH_TRACE") != NULL;
    file_name = getenv("CRASH_FILE");
    if (file_name && !*file_name) file_name = NULL;
    const char *s = getenv("CRASH_AT");
    if (!s || !*s) return;
    char op[16], when[16], lose[16] = "";
    int k, n, got = sscanf(s, "%d:%15[a-z]:%d:%15[a-z]:%15[a-z]", &k, op, &n, when, lose);
    int o = -1;
    for (int i = 0; i < NOPS; i++)
        if (got >= 4 && strcmp(op, op_names[i]) == 0) o = i;
    if (got < 4 || o < 0 || k < 1 || n < 1 || (strcmp(when, "before") && strcmp(when, "after")) ||
        (got == 5 && strcmp(lose, "lose"))) {
        fprintf(stderr, "crash_shim: CRASH_AT='%s' is not K:OP:N:before|after[:lose] with OP one of "
                        "fwrite fflush fsync fclose rename\n", s);
        _exit(99);
    }
    at_k = k, at_op = o, at_n = n, at_after = strcmp(when, "after") == 0, at_lose = got == 5;
}

static int matches(const char *path) {
    if (!file_name || !path) return 0;
    const char *base = strrchr(path, '/');
    return strstr(base ? base + 1 : path, file_name) != NULL;
}

/* the simulated power loss: every file still where the writer left it loses its unsynced tail */
static void lose_unsynced(void) {
    for (int i = 0; i < NREC; i++) {
        struct rec *r = &recs[i];
        struct stat st;
        if (!r->used || stat(r->path, &st) != 0 || st.st_dev != r->dev || st.st_ino != r->ino) continue;
        if (st.st_size > r->synced) {
            if (tracing) fprintf(stderr, "crash_shim: power loss: %s cut from %lld to %lld bytes\n", r->path,
                                 (long long)st.st_size, (long long)r->synced);
            if (truncate(r->path, r->synced) != 0) perror("crash_shim: truncate");
        }
    }
}

/* called before (after = 0) and after (after = 1) each counted call; the before call counts it */
static void point(int op, int after, const char *what) {
    if (!after) {
        count[op]++;
        if (tracing) fprintf(stderr, "crash_shim: %d %s %d %s\n", ckpt, op_names[op], count[op], what ? what : "");
    }
    if (ckpt == at_k && op == at_op && count[op] == at_n && after == at_after) {
        if (tracing) fprintf(stderr, "crash_shim: SIGKILL at %d:%s:%d:%s%s\n", ckpt, op_names[op], count[op],
                             after ? "after" : "before", at_lose ? ":lose" : "");
        if (at_lose) lose_unsynced();
        raise(SIGKILL);
        _exit(137); /* not reached */
    }
}

#define REAL(ret, name, args)                                                                                          \
    static ret(*real) args;                                                                                            \
    if (!real) real = (ret(*) args)dlsym(RTLD_NEXT, name);                                                             \
    init()

static FILE *open_common(FILE *(*real)(const char *, const char *), const char *path, const char *mode) {
    int w = mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+'));
    if (!w || !matches(path)) return real(path, mode);
    ckpt++;
    memset(count, 0, sizeof count);
    FILE *fp = real(path, mode);
    if (tracing) fprintf(stderr, "crash_shim: %d fopen %s\n", ckpt, path);
    if (!fp) return fp;
    /* a record for it (the oldest slot is reused) */
    cur = (cur + 1) % NREC;
    struct rec *r = &recs[cur];
    struct stat st;
    memset(r, 0, sizeof *r);
    r->fp = fp;
    r->fd = fileno(fp);
    if (fstat(r->fd, &st) == 0) r->used = 1, r->dev = st.st_dev, r->ino = st.st_ino;
    snprintf(r->path, sizeof r->path, "%s", path);
    return fp;
}

FILE *fopen(const char *path, const char *mode) {
    REAL(FILE *, "fopen", (const char *, const char *));
    return open_common(real, path, mode);
}

FILE *fopen64(const char *path, const char *mode) {
    REAL(FILE *, "fopen64", (const char *, const char *));
    return open_common(real, path, mode);
}

static struct rec *rec_of_fp(FILE *fp) {
    if (!fp) return NULL;
    for (int i = 0; i < NREC; i++)
        if (recs[i].used && recs[i].fp == fp) return &recs[i];
    return NULL;
}

static struct rec *rec_of_fd(int fd) {
    for (int i = 0; i < NREC; i++)
        if (recs[i].used && recs[i].fd == fd && fd >= 0) return &recs[i];
    return NULL;
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *fp) {
    REAL(size_t, "fwrite", (const void *, size_t, size_t, FILE *));
    struct rec *r = rec_of_fp(fp);
    if (!r) return real(p, size, n, fp);
    point(FWRITE, 0, NULL);
    size_t got = real(p, size, n, fp);
    point(FWRITE, 1, NULL);
    return got;
}

int fflush(FILE *fp) {
    REAL(int, "fflush", (FILE *));
    struct rec *r = rec_of_fp(fp);
    if (!r) return real(fp);
    point(FFLUSH, 0, NULL);
    int rc = real(fp);
    point(FFLUSH, 1, NULL);
    return rc;
}

static int sync_common(int (*real)(int), int fd) {
    struct rec *r = rec_of_fd(fd);
    if (!r) return real(fd);
    point(FSYNC, 0, NULL);
    int rc = real(fd);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) == 0) r->synced = st.st_size;
    point(FSYNC, 1, NULL);
    return rc;
}

int fsync(int fd) {
    REAL(int, "fsync", (int));
    return sync_common(real, fd);
}

int fdatasync(int fd) {
    REAL(int, "fdatasync", (int));
    return sync_common(real, fd);
}

int fclose(FILE *fp) {
    REAL(int, "fclose", (FILE *));
    struct rec *r = rec_of_fp(fp);
    if (!r) return real(fp);
    point(FCLOSE, 0, NULL);
    r->fp = NULL, r->fd = -1; /* the FILE and its descriptor are gone, the file stays */
    int rc = real(fp);
    point(FCLOSE, 1, NULL);
    return rc;
}

static void renamed(const char *from, const char *to) {
    for (int i = 0; i < NREC; i++)
        if (recs[i].used && strcmp(recs[i].path, from) == 0) snprintf(recs[i].path, sizeof recs[i].path, "%s", to);
}

int rename(const char *from, const char *to) {
    REAL(int, "rename", (const char *, const char *));
    if (!matches(from) && !matches(to)) return real(from, to);
    point(RENAME, 0, to);
    int rc = real(from, to);
    if (rc == 0) renamed(from, to);
    point(RENAME, 1, to);
    return rc;
}

/* renameat and renameat2 count as rename; the records follow paths given as the writer gave
 * them, so these only follow them when both names are absolute or relative to the cwd */
int renameat(int fd1, const char *from, int fd2, const char *to) {
    REAL(int, "renameat", (int, const char *, int, const char *));
    if (!matches(from) && !matches(to)) return real(fd1, from, fd2, to);
    point(RENAME, 0, to);
    int rc = real(fd1, from, fd2, to);
    if (rc == 0 && (from[0] == '/' || fd1 == AT_FDCWD) && (to[0] == '/' || fd2 == AT_FDCWD)) renamed(from, to);
    point(RENAME, 1, to);
    return rc;
}

int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags) {
    REAL(int, "renameat2", (int, const char *, int, const char *, unsigned));
    if (!matches(from) && !matches(to)) return real(fd1, from, fd2, to, flags);
    point(RENAME, 0, to);
    int rc = real(fd1, from, fd2, to, flags);
    if (rc == 0 && (from[0] == '/' || fd1 == AT_FDCWD) && (to[0] == '/' || fd2 == AT_FDCWD)) renamed(from, to);
    point(RENAME, 1, to);
    return rc;
}
