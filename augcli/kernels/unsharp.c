/* Unsharp mask of 8-bit images, part of the _pixel module: exactly the bytes of Pillow's
 * ImageFilter.UnsharpMask(radius=2, percent, threshold=3) on every colour byte.
 *
 * Pillow's rules (libImaging BoxBlur.c, UnsharpMask.c), restated:
 * - the blur is GaussianBlur(2) as 3 passes of an extended box blur along x, then 3 along y. Its
 *   box radius for sigma^2 = 4 / 3 is 1.375, so each pass is the 5-tap filter [fw ww ww ww fw] with
 *   ww = 2^24 / 3.75 truncated = 4473924 = (2^26 - 4) / 15 and fw = (2^24 - 3 ww) / 2 = 1677722 =
 *   (2^24 + 4) / 10, sample indices clamped to the row (or column), each pass rounded to a byte:
 *   out = (ww (s[-1] + s[0] + s[1]) + fw (s[-2] + s[2]) + 2^23) >> 24.
 * - then per byte: d = in - blur; out = |d| > 3 ? clip(in + d * percent / 100) : in, the division
 *   truncating towards zero.
 *
 * The same integers in 16 bits (so SIMD lanes are 16 bits wide): with S3 = s[-1] + s[0] + s[1],
 * S2 = s[-2] + s[2] and K = 8 S3 + 3 S2 + 15, multiplying the pass's sum by 30 gives
 * 30 (ww S3 + fw S2 + 2^23) = 2^24 K + (12 S2 - 8 S3), and |12 S2 - 8 S3| < 2^24, so the pass is
 * K / 30 (floor), less one exactly when 30 divides K and 3 S2 < 2 S3; that is (K - 1) / 30 when
 * 3 S2 < 2 S3, since K - 1 and K have the same quotient unless 30 divides K (box5 below; the
 * exhaustive check over every (S3, S2) is in the tests). K <= 7665. The sharpening splits the percent as
 * 100 P + R: |d| percent / 100 = |d| P + |d| R / 100 (floor), each term below 2^15 when P <= 64.
 * A percent of 6400 already moves every difference beyond the threshold (|d| >= 4) by 256 levels
 * or more, so the caller passes min(percent, 6400) and gets the same bytes.
 *
 * Layout: the 3 horizontal passes run per source row through padded row buffers (2 replicated
 * pixels at each end, which is the clamping); the vertical passes run over whole rows at once, as
 * three rings of RING rows (one per pass level) through which the rows stream, so no transposes and
 * no full-size intermediate. The last vertical pass and the sharpening are fused and write the
 * output row. Every byte of a pixel is processed; non-colour bytes are copied from the source. All
 * scratch is allocated once per call.
 */
#include "pixel.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* let the compiler vectorise the 16-bit loops for each target */
#endif

#define UNSHARP_PERCENT_MAX 6400
#define UNSHARP_THRESHOLD 3
#define RING 8 /* rows kept per level: a pass needs 5 consecutive rows, at most 7 at the top */

/* One box pass on the window sums S3 (<= 765) and S2 (<= 510), as described above. */
AUGCLI_INLINE uint8_t box5(uint16_t s3, uint16_t s2)
{
    const uint16_t below = (uint16_t)(3 * s2) < (uint16_t)(2 * s3);
    return (uint8_t)((uint16_t)(8 * s3 + 3 * s2 + 15 - below) / 30);
}

/* A horizontal pass over n bytes: `in` points at the first pixel of a row padded by 2 pixels at each end. */
AUGCLI_INLINE void hpass_body(const uint8_t *restrict in, uint8_t *restrict out, size_t n, int bpp)
{
    const uint8_t *a = in - 2 * bpp, *b = in - bpp, *c = in, *d = in + bpp, *e = in + 2 * bpp;
    for (size_t j = 0; j < n; j++)
        out[j] = box5((uint16_t)(b[j] + c[j] + d[j]), (uint16_t)(a[j] + e[j]));
}
AUGCLI_DISPATCH(hpass, (const uint8_t *in, uint8_t *out, size_t n, int bpp), (in, out, n, bpp))

/* A vertical pass over n bytes: r[0..4] are the rows y - 2 .. y + 2 (clamped). */
AUGCLI_INLINE void vpass_body(const uint8_t *const *r, uint8_t *restrict out, size_t n)
{
    const uint8_t *restrict a = r[0], *restrict b = r[1], *restrict c = r[2], *restrict d = r[3], *restrict e = r[4];
    for (size_t j = 0; j < n; j++)
        out[j] = box5((uint16_t)(b[j] + c[j] + d[j]), (uint16_t)(a[j] + e[j]));
}
AUGCLI_DISPATCH(vpass, (const uint8_t *const *r, uint8_t *out, size_t n), (r, out, n))

/* The last vertical pass fused with the sharpening: percent = 100 p + rem, p <= 64, rem <= 99. */
AUGCLI_INLINE void sharpen_body(const uint8_t *const *r, const uint8_t *restrict src, uint8_t *restrict out, size_t n,
                                uint16_t p, uint16_t rem)
{
    const uint8_t *restrict a = r[0], *restrict b = r[1], *restrict c = r[2], *restrict d = r[3], *restrict e = r[4];
    for (size_t j = 0; j < n; j++) {
        const int16_t s = src[j];
        const int16_t diff = (int16_t)(s - box5((uint16_t)(b[j] + c[j] + d[j]), (uint16_t)(a[j] + e[j])));
        const uint16_t mag = (uint16_t)(diff < 0 ? -diff : diff);
        const int16_t move = (int16_t)(mag * p + (uint16_t)(mag * rem) / 100);
        const int16_t v = (int16_t)(diff > UNSHARP_THRESHOLD ? s + move : (diff < -UNSHARP_THRESHOLD ? s - move : s));
        out[j] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
}
AUGCLI_DISPATCH(sharpen, (const uint8_t *const *r, const uint8_t *src, uint8_t *out, size_t n, uint16_t p, uint16_t rem),
                (r, src, out, n, p, rem))

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    int w, h, bpp, nc;
    uint16_t p, rem;
    uint8_t *pad[3];   /* padded rows for the horizontal passes, (w + 4) bpp bytes each */
    uint8_t *ring[3];  /* per level, RING rows of w bpp bytes: row y in slot y % RING */
} unsharp_job;

/* Replicate the first and the last pixel of a padded row (pointing at its first pixel) twice outwards. */
static void pad_ends(uint8_t *row, int w, int bpp)
{
    const uint8_t *last = row + (size_t)(w - 1) * bpp;
    for (int k = 1; k <= 2; k++) {
        memcpy(row - (size_t)k * bpp, row, (size_t)bpp);
        memcpy(row + (size_t)(w - 1 + k) * bpp, last, (size_t)bpp);
    }
}

static void horizontal_row(const unsharp_job *j, int y, hpass_fn hpass)
{
    const int w = j->w, bpp = j->bpp;
    const size_t n = (size_t)w * bpp, lead = 2 * (size_t)bpp;
    uint8_t *p0 = j->pad[0] + lead, *p1 = j->pad[1] + lead, *p2 = j->pad[2] + lead;
    memcpy(p0, j->src + (size_t)y * n, n);
    pad_ends(p0, w, bpp);
    hpass(p0, p1, n, bpp);
    pad_ends(p1, w, bpp);
    hpass(p1, p2, n, bpp);
    pad_ends(p2, w, bpp);
    hpass(p2, j->ring[0] + (size_t)(y % RING) * n, n, bpp);
}

/* The five rows y - 2 .. y + 2 of a level, clamped to the image. */
static void window(const unsharp_job *j, int level, int y, const uint8_t **r)
{
    const size_t n = (size_t)j->w * j->bpp;
    for (int k = 0; k < 5; k++) {
        const int64_t yy = (int64_t)y - 2 + k;
        const int row = yy < 0 ? 0 : (yy >= j->h ? j->h - 1 : (int)yy);
        r[k] = j->ring[level] + (size_t)(row % RING) * n;
    }
}

/* Output row y needs level-2 rows up to y + 2, level-1 rows up to y + 4 and horizontally blurred
 * rows up to y + 6; each level is computed only as far as needed, so every window is in its ring. */
static void run_unsharp(const unsharp_job *j, int path)
{
    const int h = j->h;
    const size_t n = (size_t)j->w * j->bpp;
    const hpass_fn hpass = hpass_for(path);
    const vpass_fn vpass = vpass_for(path);
    const sharpen_fn sharpen = sharpen_for(path);
    const uint8_t *r[5];
    int done[3] = {0, 0, 0};
    for (int y = 0; y < h; y++) {
        for (; done[0] <= y + 6 && done[0] < h; done[0]++)
            horizontal_row(j, done[0], hpass);
        for (int level = 1; level <= 2; level++) {
            for (; done[level] <= y + 6 - 2 * level && done[level] < h; done[level]++) {
                window(j, level - 1, done[level], r);
                vpass(r, j->ring[level] + (size_t)(done[level] % RING) * n, n);
            }
        }
        window(j, 2, y, r);
        const size_t at = (size_t)y * n;
        sharpen(r, j->src + at, j->dst + at, n, j->p, j->rem);
        augcli_copy_extra(j->src + at, j->dst + at, (size_t)j->w, j->bpp, j->nc);
    }
}

PyObject *augcli_py_unsharp(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    long percent;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiil", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &percent))
        return NULL;
    if (augcli_check_pair("unsharp", &p, 0))
        return NULL;
    if (percent < 0 || percent > UNSHARP_PERCENT_MAX) {
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "unsharp: the percent must be 0 to 6400");
        return NULL;
    }
    unsharp_job j;
    memset(&j, 0, sizeof j);
    j.src = p.src.buf;
    j.dst = p.dst.buf;
    j.w = p.w;
    j.h = p.h;
    j.bpp = p.bpp;
    j.nc = p.nc;
    j.p = (uint16_t)(percent / 100);
    j.rem = (uint16_t)(percent % 100);
    const size_t n = (size_t)p.w * p.bpp, padded = ((size_t)p.w + 4) * p.bpp;
    uint8_t *scratch = PyMem_RawMalloc(3 * padded + 3 * RING * n);
    if (!scratch) {
        augcli_release_pair(&p);
        return PyErr_NoMemory();
    }
    for (int k = 0; k < 3; k++) {
        j.pad[k] = scratch + (size_t)k * padded;
        j.ring[k] = scratch + 3 * padded + (size_t)k * RING * n;
    }
    const int path = augcli_pixel_path;
    Py_BEGIN_ALLOW_THREADS
    run_unsharp(&j, path);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(scratch);
    augcli_release_pair(&p);
    Py_RETURN_NONE;
}
