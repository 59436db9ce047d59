/* cleanup.h - scope-bound ownership, after systemd and libguestfs.
 *
 *   _cleanup_free_ char *s = NULL;      freed when s leaves scope
 *   return TAKE_PTR(s);                 hands ownership to the caller
 *
 * DEFINE_CLEANUP(type, fn) makes _cleanup_(fn##p) for a library type
 * whose destructor is fn(type *); modules that own such types define
 * their own (guestfs_h, struct archive, EVP_PKEY, struct recipe). */
#ifndef KILN_CLEANUP_H
#define KILN_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
    free(*(void **)p);
}

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

/* Frees a NULL-terminated vector of strings and the vector itself. */
static inline void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static inline void strv_freep(char ***v)
{
    strv_free(*v);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

#define DEFINE_CLEANUP(type, fn)                \
    static inline void fn##p(type **p)          \
    {                                           \
        if (*p)                                 \
            fn(*p);                             \
    }

/* Returns the pointer and sets the variable to NULL: the only hand-over. */
#define TAKE_PTR(p)                             \
    ({                                          \
        __typeof__(p) _ptr_ = (p);              \
        (p) = NULL;                             \
        _ptr_;                                  \
    })

#define TAKE_FD(fd)                             \
    ({                                          \
        int _fd_ = (fd);                        \
        (fd) = -1;                              \
        _fd_;                                   \
    })

#endif
