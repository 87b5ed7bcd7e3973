/* Internal header of the _pixel extension module (pixel.c holds the module, filters.c the blur,
 * line mean and noise fill, median.c the median, iso.c ISO noise, clahe.c CLAHE, unsharp.c
 * the unsharp mask, lattice.c the elastic lattice's smoothing, resize.c downscale).
 *
 * Every pixel kernel takes packed 8-bit images: w x h pixels of bpp bytes (1-4), the first nc of
 * them colour samples (L: 1/1, LA: 2/1, RGB: 3/3, RGBA or RGBX: 4/3); the other bytes of each pixel
 * (alpha) are copied unchanged. Source and output are distinct buffers of exactly w * h * bpp bytes.
 */
#ifndef AUGCLI_KERNELS_PIXEL_H
#define AUGCLI_KERNELS_PIXEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "common.h"

/* The path the pixel kernels use now (AUGCLI_SCALAR ...), set by _pixel.set_path. */
extern int augcli_pixel_path;

/* A checked pair of buffers. */
typedef struct {
    Py_buffer src, dst;
    int w, h, bpp, nc;
    size_t npx; /* w * h */
} augcli_image_pair;

/* Check the geometry (1 <= nc <= bpp <= 4, want_nc if non-zero) and that both buffers hold exactly
 * w * h * bpp bytes; on failure set ValueError, release the buffers and return -1. */
int augcli_check_pair(const char *what, augcli_image_pair *p, int want_nc);
void augcli_release_pair(augcli_image_pair *p);

/* Copy the non-colour bytes (bpp > nc) of every pixel from src to dst. */
void augcli_copy_extra(const uint8_t *src, uint8_t *dst, size_t npx, int bpp, int nc);

/* Defined in filters.c. */
PyObject *augcli_py_blur(PyObject *self, PyObject *args);
PyObject *augcli_py_line_mean(PyObject *self, PyObject *args);
PyObject *augcli_py_fill_noise(PyObject *self, PyObject *args);
/* Defined in median.c. */
PyObject *augcli_py_median(PyObject *self, PyObject *args);
/* Defined in iso.c. */
PyObject *augcli_py_iso_noise(PyObject *self, PyObject *args);
/* Defined in clahe.c. */
PyObject *augcli_py_clahe(PyObject *self, PyObject *args);
/* Defined in unsharp.c. */
PyObject *augcli_py_unsharp(PyObject *self, PyObject *args);
/* Defined in resize.c. */
PyObject *augcli_py_downscale(PyObject *self, PyObject *args);
/* Defined in jpegsim.c. */
PyObject *augcli_py_jpeg(PyObject *self, PyObject *args);
/* Defined in noise.c (x86 only): gaussian noise on the avx2 or avx512 path, with pixel.c's table. */
void augcli_noise_simd(int path, const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, const int16_t *add,
                       uint64_t key);
/* Defined in lighting.c (x86 only): lighting on the SIMD paths (pixel.c's rule, in 32-bit lanes). */
void augcli_lighting_simd(const uint8_t *s, uint8_t *d, int w, int h, int bpp, int nc, int64_t g0, int64_t gx,
                          int64_t gy);
/* Defined in salt.c (x86 only): salt and pepper on the avx2 or avx512 path (pixel.c's rule). */
void augcli_salt_simd(int path, const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, uint64_t hit,
                      uint64_t salt, uint64_t key);
/* Defined in lattice.c. */
PyObject *augcli_py_smooth_lattice(PyObject *self, PyObject *args);
PyObject *augcli_py_bilinear(PyObject *self, PyObject *args);

/* Per-function target attributes for the SIMD builds of a kernel body. The bodies are plain C
 * integer code, written once and compiled for each path (the compiler vectorises them), so every
 * path computes exactly the same integers by the rules of C itself. */
#if AUGCLI_X86
#define AUGCLI_TARGET_AVX2 __attribute__((target("avx2")))
#if defined(__clang__)
#define AUGCLI_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512dq")))
#else /* gcc would otherwise keep to 256-bit vectors */
#define AUGCLI_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512dq,prefer-vector-width=512")))
#endif
#endif
#if defined(_MSC_VER) && !defined(__clang__) && !defined(restrict)
#define restrict __restrict
#endif
#if defined(__GNUC__) || defined(__clang__)
#define AUGCLI_INLINE static inline __attribute__((always_inline))
#else
#define AUGCLI_INLINE static inline
#endif

/* A kernel whose SIMD builds do not pay (measured), and any kernel on a CPU without SIMD paths:
 * every path runs the scalar build of name_body (an AUGCLI_INLINE function); params is the
 * parenthesised parameter list, args the parenthesised argument list. */
#define AUGCLI_ONE_PATH(name, params, args)                                                              \
    static void name##_scalar params { name##_body args; }                                             \
    typedef void(*name##_fn) params;                                                                    \
    static name##_fn name##_for(int path)                                                              \
    {                                                                                                  \
        (void)path;                                                                                    \
        return name##_scalar;                                                                          \
    }

/* Builds for every path, and name_for(path) choosing one: the scalar path runs scalar_body, the
 * SIMD paths simd_body (two forms of the same integers, when each runs faster on its own paths);
 * AUGCLI_DISPATCH builds name_body for all of them. Without SIMD paths, scalar_body alone. */
#if AUGCLI_X86
#define AUGCLI_DISPATCH_BODIES(name, scalar_body, simd_body, params, args)                               \
    static void name##_scalar params { scalar_body args; }                                             \
    AUGCLI_TARGET_AVX2 static void name##_avx2 params { simd_body args; }                              \
    AUGCLI_TARGET_AVX512 static void name##_avx512 params { simd_body args; }                          \
    typedef void(*name##_fn) params;                                                                    \
    static name##_fn name##_for(int path)                                                              \
    {                                                                                                  \
        return path == AUGCLI_AVX512 ? name##_avx512 : (path == AUGCLI_AVX2 ? name##_avx2 : name##_scalar); \
    }
#define AUGCLI_DISPATCH(name, params, args) AUGCLI_DISPATCH_BODIES(name, name##_body, name##_body, params, args)
#else
#define AUGCLI_DISPATCH_BODIES(name, scalar_body, simd_body, params, args) AUGCLI_ONE_PATH(name, params, args)
#define AUGCLI_DISPATCH AUGCLI_ONE_PATH
#endif

/* filters.c's window rows (window filters: edges replicated, rows kept padded in a ring), shared
 * with median.c. */
typedef struct {
    const uint8_t *src;
    int w, h, bpp, r, ring;
    uint8_t *pad;          /* ring of padded rows, (w + 2r) bpp bytes each */
    const uint8_t **rows;  /* rows[i]: the padded source row y - r + i (clamped) of the current output row */
    int done;              /* source rows 0 .. done - 1 are in the ring */
} window_rows;
int augcli_window_init(window_rows *wr, const uint8_t *src, int w, int h, int bpp, int r);
void augcli_window_free(window_rows *wr);
void augcli_window_advance(window_rows *wr, int y);
/* Defined in median.c: the non-colour bytes of one row copied back from the source. */
void augcli_row_copy_extra(const uint8_t *src, uint8_t *dst, int w, int bpp, int nc);

/* Salt and pepper's rule for pixel i: r = mix64(key + (i + 1) golden); hit when r >> 32 < hit, then
 * every colour byte 255 if (r mod 2^32) < salt, else 0; other pixels and bytes kept (pixel.c's scalar
 * build and salt.c's SIMD tails). */
AUGCLI_INLINE void augcli_salt_pixel(const uint8_t *s, uint8_t *d, size_t i, int bpp, int nc, uint64_t hit,
                                     uint64_t salt, uint64_t key)
{
    const uint64_t r = augcli_mix64(key + (i + 1) * AUGCLI_GOLDEN);
    const int is_hit = (r >> 32) < hit, is_salt = (r & 0xFFFFFFFFu) < salt;
    for (int c = 0; c < nc; c++)
        d[i * bpp + c] = is_hit ? (is_salt ? 255 : 0) : s[i * bpp + c];
    for (int c = nc; c < bpp; c++)
        d[i * bpp + c] = s[i * bpp + c];
}

#endif
