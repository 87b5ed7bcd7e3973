/* The warp: resample a source through a 3x3 output->input matrix (affine or projective), and the
 * remap: through a per-pixel map interpolated from a coarse grid of source coordinates (run_remap).
 *
 * Conventions (augcli.geometry): x = column, y = row, pixel centres at integers.
 * Samples: 8-bit with 1, 2 or 4 bytes per pixel (L, La, RGBX/RGBa), or 16-bit grey (I;16, LE).
 * A packed 3-byte RGB source may be warped into 4-byte RGBX output: it reads as if each of its pixels
 * had a fourth byte of 255 (Pillow's pad byte), so the output is the same as from the RGBX source.
 * Fill modes are applied per tap inside the kernel (scipy.ndimage's nearest / reflect / grid-wrap /
 * grid-constant), so no extended copy of the source is ever made.
 *
 * Arithmetic, identical on every path:
 * - source coordinates in 32.32 fixed point (int64). Along an affine row u(x) = U_row + x * DU,
 *   stepped exactly; U_row and DU are rounded from doubles by the shared scalar set-up code.
 *   Rows whose end points lie beyond +-2^29 px (and every projective row) are computed per pixel
 *   in double (u and v times 1 / w), clamped to +-2^29 (NaN to -2^29), then converted the same way.
 * - bilinear: 16-bit weights (the fraction rounded to nearest by adding 2^15 once), 8-bit samples
 *   scaled by 256 and blended with 16 x 16 -> high-16 products, result rounded (+128 >> 8);
 *   16-bit samples blended exactly in 64-bit and rounded once.
 * - nearest: the coordinate rounded to nearest (ties up) by adding 2^31 once.
 * The caller (augcli.kernels) checks the buffers; this file checks them again before touching one.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "common.h"

#if AUGCLI_X86
#include <immintrin.h>
#endif

enum { FILL_NEAREST = 0, FILL_REFLECT = 1, FILL_WRAP = 2, FILL_CONSTANT = 3 };
enum { INTERP_NEAREST = 0, INTERP_BILINEAR = 1 };

#define COORD_LIMIT 536870912.0 /* 2^29 */

#if defined(__GNUC__) && !defined(__clang__)
#define AUGCLI_VECTORISE __attribute__((optimize("O3"))) /* the portable loops the compiler may vectorise */
#else
#define AUGCLI_VECTORISE
#endif
#define TILE_ROWS 32
#define TILE_COLS 512

typedef struct {
    const uint8_t *src;
    int32_t sw, sh;
    ptrdiff_t ss; /* bytes per source row */
    int bpp;      /* bytes per output pixel: 1, 2 or 4 */
    int sbpp;     /* bytes per source pixel: bpp, or 3 (packed RGB) when bpp is 4 */
    Py_ssize_t slack; /* readable bytes after the source's last pixel */
    int wide;     /* 16-bit samples (then bpp == 2, one channel) */
    uint8_t *dst;
    int32_t dw, dh;
    ptrdiff_t ds;
    double m[9];
    int affine;
    int fill, interp;
    uint8_t cval[4]; /* one pixel of the fill colour, in the source's layout */
    /* remap only: a coarse grid of source coordinates (16.16, u and v interleaved), one node every
     * 2^gshift output pixels on each axis, gw x gh nodes, row-major */
    const int64_t *grid;
    int32_t gw, gh;
    int gshift;
} warp_job;

typedef void (*row4_fn)(const warp_job *, int64_t, int64_t, int64_t, int64_t, int32_t, uint8_t *);

static int active_path = AUGCLI_SCALAR;

/* ---------------------------------------------------------------------------------------------- */
/* coordinates */

/* floor() of a double within +-2^62, without a libm call: truncate, then step down where that
 * rounded up (exact: a double that large is an integer already, and the conversion is exact). */
static inline int64_t floor_i64(double x)
{
    const int64_t t = (int64_t)x;
    return (double)t > x ? t - 1 : t;
}

/* d (within +-2^30) in 32.32 fixed point, rounded to nearest: exactly floor(d 2^32 + 1/2), computed
 * as integer part plus rounded fraction so that every step is exact in double (the SIMD coordinate
 * fill computes the same steps lane by lane). */
static inline int64_t to_fixed(double d)
{
    const double i = (double)floor_i64(d);
    return floor_i64(d) * ((int64_t)1 << 32) + floor_i64((d - i) * 4294967296.0 + 0.5);
}

/* a + k d with wrapping (no signed overflow, which C leaves undefined): lanes past a row's end may wrap */
static inline int64_t step(int64_t a, int64_t k, int64_t d)
{
    return (int64_t)((uint64_t)a + (uint64_t)k * (uint64_t)d);
}

static inline double clamp_coord(double d)
{
    if (!(d > -COORD_LIMIT)) /* also NaN */
        return -COORD_LIMIT;
    return d > COORD_LIMIT ? COORD_LIMIT : d;
}

/* Offset added once to a fixed-point coordinate so that truncation rounds as the filter needs. */
static inline int64_t rounding_offset(int interp)
{
    return interp == INTERP_BILINEAR ? ((int64_t)1 << 15) : ((int64_t)1 << 31);
}

/* A tap index i on an axis of n samples, mapped by the fill mode; *outside is set for constant. */
static inline int32_t map_index(int64_t i, int32_t n, int fill, int *outside)
{
    int64_t m;
    switch (fill) {
    case FILL_NEAREST:
        return i < 0 ? 0 : (i >= n ? n - 1 : (int32_t)i);
    case FILL_REFLECT: /* half-sample symmetric: dcba|abcd|dcba */
        m = i % (2 * (int64_t)n);
        if (m < 0)
            m += 2 * (int64_t)n;
        return (int32_t)(m >= n ? 2 * (int64_t)n - 1 - m : m);
    case FILL_WRAP:
        m = i % n;
        return (int32_t)(m < 0 ? m + n : m);
    default:
        if (i < 0 || i >= n) {
            *outside = 1;
            return 0;
        }
        return (int32_t)i;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* one output pixel (the scalar definition every path reproduces) */

static inline uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

/* One 4-byte tap at p: a source pixel of sb (3 or 4) bytes, packed RGB getting the pad byte 255, or
 * the fill pixel cval (always 4 bytes). */
static inline __attribute__((always_inline)) void tap4(uint8_t *t, const uint8_t *p, const int sb, const uint8_t *cval)
{
    if (sb == 4 || p == cval) {
        memcpy(t, p, 4);
    } else {
        memcpy(t, p, 3);
        t[3] = 255;
    }
}

static inline void pixel_bilinear(const warp_job *j, int64_t U, int64_t V, uint8_t *out)
{
    const int32_t ix = (int32_t)(U >> 32), iy = (int32_t)(V >> 32); /* arithmetic shifts: floor */
    const uint32_t fx = (uint32_t)(U >> 16) & 0xFFFF, fy = (uint32_t)(V >> 16) & 0xFFFF;
    const int bpp = j->bpp;
    const uint8_t *p00, *p01, *p10, *p11;
    if ((uint32_t)ix < (uint32_t)(j->sw - 1) && (uint32_t)iy < (uint32_t)(j->sh - 1)) {
        p00 = j->src + (ptrdiff_t)iy * j->ss + (ptrdiff_t)ix * j->sbpp;
        p01 = p00 + j->sbpp;
        p10 = p00 + j->ss;
        p11 = p10 + j->sbpp;
    } else {
        int ox0 = 0, ox1 = 0, oy0 = 0, oy1 = 0;
        const int32_t x0 = map_index(ix, j->sw, j->fill, &ox0), x1 = map_index((int64_t)ix + 1, j->sw, j->fill, &ox1);
        const int32_t y0 = map_index(iy, j->sh, j->fill, &oy0), y1 = map_index((int64_t)iy + 1, j->sh, j->fill, &oy1);
        const uint8_t *r0 = j->src + (ptrdiff_t)y0 * j->ss, *r1 = j->src + (ptrdiff_t)y1 * j->ss;
        p00 = (ox0 | oy0) ? j->cval : r0 + (ptrdiff_t)x0 * j->sbpp;
        p01 = (ox1 | oy0) ? j->cval : r0 + (ptrdiff_t)x1 * j->sbpp;
        p10 = (ox0 | oy1) ? j->cval : r1 + (ptrdiff_t)x0 * j->sbpp;
        p11 = (ox1 | oy1) ? j->cval : r1 + (ptrdiff_t)x1 * j->sbpp;
    }
    uint8_t q[4][4];
    if (j->sbpp != bpp) { /* packed RGB taps, read as RGBX with a pad byte of 255 */
        const uint8_t *p[4] = {p00, p01, p10, p11};
        for (int t = 0; t < 4; t++)
            tap4(q[t], p[t], 3, j->cval);
        p00 = q[0], p01 = q[1], p10 = q[2], p11 = q[3];
    }
    if (j->wide) {
        const uint32_t top = rd16(p00) * (65536 - fx) + rd16(p01) * fx;
        const uint32_t bot = rd16(p10) * (65536 - fx) + rd16(p11) * fx;
        const uint64_t v = (uint64_t)top * (65536 - fy) + (uint64_t)bot * fy + ((uint64_t)1 << 31);
        const uint32_t r = (uint32_t)(v >> 32);
        out[0] = (uint8_t)(r & 0xFF);
        out[1] = (uint8_t)(r >> 8);
        return;
    }
    const uint32_t wx0 = 65535 - fx, wy0 = 65535 - fy;
    for (int c = 0; c < bpp; c++) {
        const uint32_t top = augcli_mulhi16((uint32_t)p00[c] << 8, wx0) + augcli_mulhi16((uint32_t)p01[c] << 8, fx);
        const uint32_t bot = augcli_mulhi16((uint32_t)p10[c] << 8, wx0) + augcli_mulhi16((uint32_t)p11[c] << 8, fx);
        const uint32_t v = augcli_mulhi16(top, wy0) + augcli_mulhi16(bot, fy);
        out[c] = (uint8_t)((v + 128) >> 8);
    }
}

static inline void pixel_nearest(const warp_job *j, int64_t U, int64_t V, uint8_t *out)
{
    const int32_t ix = (int32_t)(U >> 32), iy = (int32_t)(V >> 32);
    const uint8_t *p;
    if ((uint32_t)ix < (uint32_t)j->sw && (uint32_t)iy < (uint32_t)j->sh) {
        p = j->src + (ptrdiff_t)iy * j->ss + (ptrdiff_t)ix * j->sbpp;
    } else {
        int outside = 0;
        const int32_t x = map_index(ix, j->sw, j->fill, &outside), y = map_index(iy, j->sh, j->fill, &outside);
        p = outside ? j->cval : j->src + (ptrdiff_t)y * j->ss + (ptrdiff_t)x * j->sbpp;
    }
    if (j->sbpp != j->bpp)
        tap4(out, p, 3, j->cval);
    else
        memcpy(out, p, (size_t)j->bpp);
}

/* The four taps of a 4-byte output pixel some of whose taps lie outside the source, mapped by the
 * fill mode (source pixels of sb bytes). */
static inline __attribute__((always_inline)) void border_taps(const warp_job *j, int64_t u, int64_t v, uint8_t *t00,
                                                              uint8_t *t01, uint8_t *t10, uint8_t *t11, const int sb)
{
    const int32_t ix = (int32_t)(u >> 32), iy = (int32_t)(v >> 32);
    int ox0 = 0, ox1 = 0, oy0 = 0, oy1 = 0;
    const int32_t x0 = map_index(ix, j->sw, j->fill, &ox0), x1 = map_index((int64_t)ix + 1, j->sw, j->fill, &ox1);
    const int32_t y0 = map_index(iy, j->sh, j->fill, &oy0), y1 = map_index((int64_t)iy + 1, j->sh, j->fill, &oy1);
    const uint8_t *r0 = j->src + (ptrdiff_t)y0 * j->ss, *r1 = j->src + (ptrdiff_t)y1 * j->ss;
    tap4(t00, (ox0 | oy0) ? j->cval : r0 + (ptrdiff_t)x0 * sb, sb, j->cval);
    tap4(t01, (ox1 | oy0) ? j->cval : r0 + (ptrdiff_t)x1 * sb, sb, j->cval);
    tap4(t10, (ox0 | oy1) ? j->cval : r1 + (ptrdiff_t)x0 * sb, sb, j->cval);
    tap4(t11, (ox1 | oy1) ? j->cval : r1 + (ptrdiff_t)x1 * sb, sb, j->cval);
}

/* the high 16 bits of a 16 x 16-bit product, in 16-bit types (what vectorisers map to pmulhuw / umull) */
static inline uint16_t mulhi_u16(uint16_t a, uint16_t b)
{
    return (uint16_t)(((uint32_t)a * b) >> 16);
}

/* pixel_bilinear's chain for n bytes with their weights (every sum fits 16 bits: at most 65280) */
AUGCLI_VECTORISE static void blend_bytes(const uint8_t *restrict t00, const uint8_t *restrict t01,
                                         const uint8_t *restrict t10, const uint8_t *restrict t11,
                                         const uint16_t *restrict fx, const uint16_t *restrict fy,
                                         uint8_t *restrict out, int n)
{
    for (int e = 0; e < n; e++) {
        const uint16_t wx1 = fx[e], wy1 = fy[e], wx0 = (uint16_t)(65535u - wx1), wy0 = (uint16_t)(65535u - wy1);
        const uint16_t top = (uint16_t)(mulhi_u16((uint16_t)(t00[e] << 8), wx0) + mulhi_u16((uint16_t)(t01[e] << 8), wx1));
        const uint16_t bot = (uint16_t)(mulhi_u16((uint16_t)(t10[e] << 8), wx0) + mulhi_u16((uint16_t)(t11[e] << 8), wx1));
        out[e] = (uint8_t)((uint16_t)(mulhi_u16(top, wy0) + mulhi_u16(bot, wy1) + 128) >> 8);
    }
}

/* 8-bit, 4 bytes per pixel, bilinear, in blocks of ROW4_BLOCK pixels: first the taps and weights of
 * every pixel of the block (interior taps read directly, the rest through border_taps), then the
 * blend of every byte: pixel_bilinear's 16-bit chain as one plain loop over arrays, which compilers
 * vectorise with the baseline SIMD of the CPU (SSE2, NEON). */
#define ROW4_BLOCK 64
static inline __attribute__((always_inline)) void row4_body(const warp_job *j, int64_t U, int64_t DU, int64_t V,
                                                            int64_t DV, int32_t n, uint8_t *out, const int sb)
{
    const uint32_t wm1 = (uint32_t)(j->sw - 1), hm1 = (uint32_t)(j->sh - 1);
    const uint8_t *src = j->src;
    const ptrdiff_t ss = j->ss;
    uint8_t t00[4 * ROW4_BLOCK], t01[4 * ROW4_BLOCK], t10[4 * ROW4_BLOCK], t11[4 * ROW4_BLOCK];
    uint16_t fx[4 * ROW4_BLOCK], fy[4 * ROW4_BLOCK]; /* the weights, repeated for each byte */
    uint64_t u = (uint64_t)U, v = (uint64_t)V;       /* wrapping steps: lanes past the row end may wrap */
    for (int32_t i0 = 0; i0 < n; i0 += ROW4_BLOCK) {
        const int m = n - i0 < ROW4_BLOCK ? (int)(n - i0) : ROW4_BLOCK;
        for (int k = 0; k < m; k++, u += (uint64_t)DU, v += (uint64_t)DV) {
            const int32_t ix = (int32_t)((int64_t)u >> 32), iy = (int32_t)((int64_t)v >> 32);
            if ((uint32_t)ix < wm1 && (uint32_t)iy < hm1) {
                const uint8_t *p = src + (ptrdiff_t)iy * ss + (ptrdiff_t)ix * sb;
                tap4(t00 + 4 * k, p, sb, NULL);
                tap4(t01 + 4 * k, p + sb, sb, NULL);
                tap4(t10 + 4 * k, p + ss, sb, NULL);
                tap4(t11 + 4 * k, p + ss + sb, sb, NULL);
            } else {
                border_taps(j, (int64_t)u, (int64_t)v, t00 + 4 * k, t01 + 4 * k, t10 + 4 * k, t11 + 4 * k, sb);
            }
            const uint16_t wx = (uint16_t)(u >> 16), wy = (uint16_t)(v >> 16);
            for (int c = 0; c < 4; c++)
                fx[4 * k + c] = wx, fy[4 * k + c] = wy;
        }
        blend_bytes(t00, t01, t10, t11, fx, fy, out + 4 * (ptrdiff_t)i0, 4 * m);
    }
}

static void row4_scalar(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n, uint8_t *out)
{
    if (j->sbpp == 3)
        row4_body(j, U, DU, V, DV, n, out, 3);
    else
        row4_body(j, U, DU, V, DV, n, out, 4);
}

static void row_scalar(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n, uint8_t *out)
{
    const int bpp = j->bpp;
    if (j->interp == INTERP_BILINEAR) {
        for (int32_t i = 0; i < n; i++, out += bpp)
            pixel_bilinear(j, step(U, i, DU), step(V, i, DV), out);
    } else {
        for (int32_t i = 0; i < n; i++, out += bpp)
            pixel_nearest(j, step(U, i, DU), step(V, i, DV), out);
    }
}

/* Per-pixel coordinates of a row segment (rows that are not stepped exactly: projective ones, and
 * affine ones reaching beyond +-2^29 px), split as the SIMD rows read them, with their range. */
typedef struct {
    int32_t uh[TILE_COLS], vh[TILE_COLS];
    uint32_t ul[TILE_COLS], vl[TILE_COLS];
    int64_t umin, umax, vmin, vmax; /* integer parts */
} coords;

/* the coordinates of pixels i0..n-1 of the segment (and their ranges, which start afresh) */
static void fill_coords_from(const warp_job *j, int32_t y, int32_t xa, int32_t i0, int32_t n, coords *k)
{
    const double *m = j->m;
    const int64_t ofs = rounding_offset(j->interp);
    k->umin = k->vmin = INT64_MAX;
    k->umax = k->vmax = INT64_MIN;
    for (int32_t i = i0; i < n; i++) {
        const int32_t x = xa + i;
        double u = m[0] * x + m[1] * y + m[2], v = m[3] * x + m[4] * y + m[5];
        if (!j->affine) { /* one division per pixel: u and v are scaled by the same 1 / w */
            const double r = 1.0 / (m[6] * x + m[7] * y + m[8]);
            u *= r;
            v *= r;
        }
        const int64_t U = to_fixed(clamp_coord(u)) + ofs, V = to_fixed(clamp_coord(v)) + ofs;
        k->uh[i] = (int32_t)(U >> 32), k->ul[i] = (uint32_t)U, k->vh[i] = (int32_t)(V >> 32), k->vl[i] = (uint32_t)V;
        k->umin = k->uh[i] < k->umin ? k->uh[i] : k->umin, k->umax = k->uh[i] > k->umax ? k->uh[i] : k->umax;
        k->vmin = k->vh[i] < k->vmin ? k->vh[i] : k->vmin, k->vmax = k->vh[i] > k->vmax ? k->vh[i] : k->vmax;
    }
}

static void fill_coords_scalar(const warp_job *j, int32_t y, int32_t xa, int32_t n, coords *k)
{
    fill_coords_from(j, y, xa, 0, n, k);
}

typedef void (*fill_fn)(const warp_job *, int32_t, int32_t, int32_t, coords *);

static inline int64_t joined(int32_t hi, uint32_t lo)
{
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo);
}

/* pixels i..n-1 of a segment from its coordinates, one at a time (any layout and filter) */
static void rowc_scalar(const warp_job *j, const coords *k, int32_t i, int32_t n, uint8_t *out)
{
    for (; i < n; i++) {
        const int64_t U = joined(k->uh[i], k->ul[i]), V = joined(k->vh[i], k->vl[i]);
        uint8_t *o = out + (ptrdiff_t)i * j->bpp;
        if (j->interp == INTERP_BILINEAR)
            pixel_bilinear(j, U, V, o);
        else
            pixel_nearest(j, U, V, o);
    }
}

typedef void (*rowc_fn)(const warp_job *, const coords *, int32_t, uint8_t *);

/* ---------------------------------------------------------------------------------------------- */
/* SIMD rows: 8-bit, 4 bytes per pixel, bilinear, affine. Same integers as pixel_bilinear. */

#if AUGCLI_X86

/* Ask for the source lines that pixel i + PREFETCH_AHEAD of a row will read (its two rows, at its
 * first and last lane): gathers do not train the hardware prefetcher, and once the source is larger
 * than the L2 cache every new line would otherwise be a full miss. Coordinates are clamped, so the
 * hint never points outside the source (a prefetch cannot fault, but stays tidy). */
#define PREFETCH_AHEAD 48
#define PREFETCH_MIN_BYTES (2 << 20) /* smaller sources stay in the caches: the hints would only cost */
static inline void prefetch_taps(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t i, int lanes)
{
    for (int k = 0; k < lanes; k += lanes - 1) {
        int64_t x = step(U, i + PREFETCH_AHEAD + k, DU) >> 32, y = step(V, i + PREFETCH_AHEAD + k, DV) >> 32;
        x = x < 0 ? 0 : (x >= j->sw ? j->sw - 1 : x);
        y = y < 0 ? 0 : (y >= j->sh - 1 ? (j->sh > 1 ? j->sh - 2 : 0) : y);
        const uint8_t *p = j->src + (ptrdiff_t)y * j->ss + (ptrdiff_t)x * j->sbpp;
        __builtin_prefetch(p, 0, 3);
        __builtin_prefetch(p + (j->sh > 1 ? j->ss : 0), 0, 3);
    }
}

/* map tap indices by the fill mode; constant mode also returns the outside mask */
__attribute__((target("avx2"))) static inline __m256i map_avx2(__m256i i, __m256i n, __m256i nm1, int fill,
                                                               __m256i *outside)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i lo, hi;
    switch (fill) {
    case FILL_REFLECT: /* one fold, valid for -n <= i < 2n (checked by the caller) */
        i = _mm256_blendv_epi8(i, _mm256_sub_epi32(_mm256_set1_epi32(-1), i), _mm256_cmpgt_epi32(zero, i));
        return _mm256_blendv_epi8(i, _mm256_sub_epi32(_mm256_add_epi32(n, nm1), i), _mm256_cmpgt_epi32(i, nm1));
    case FILL_WRAP:
        i = _mm256_blendv_epi8(i, _mm256_add_epi32(i, n), _mm256_cmpgt_epi32(zero, i));
        return _mm256_blendv_epi8(i, _mm256_sub_epi32(i, n), _mm256_cmpgt_epi32(i, nm1));
    case FILL_CONSTANT:
        lo = _mm256_cmpgt_epi32(zero, i);
        hi = _mm256_cmpgt_epi32(i, nm1);
        *outside = _mm256_or_si256(*outside, _mm256_or_si256(lo, hi));
        /* fall through: clamp, so the read stays inside */
    default:
        return _mm256_min_epi32(_mm256_max_epi32(i, zero), nm1);
    }
}

__attribute__((target("avx2"))) static inline __m256i blend_avx2(__m256i p00, __m256i p01, __m256i p10, __m256i p11,
                                                                 __m256i wx0, __m256i wx1, __m256i wy0, __m256i wy1)
{
    const __m256i m_rb = _mm256_set1_epi32(0x00FF00FF), m_gx = _mm256_set1_epi32((int)0xFF00FF00u);
    const __m256i half = _mm256_set1_epi32(0x00800080);
    __m256i a, b, c, d, top, bot, rb, gx;
    a = _mm256_slli_epi32(_mm256_and_si256(p00, m_rb), 8);
    b = _mm256_slli_epi32(_mm256_and_si256(p01, m_rb), 8);
    c = _mm256_slli_epi32(_mm256_and_si256(p10, m_rb), 8);
    d = _mm256_slli_epi32(_mm256_and_si256(p11, m_rb), 8);
    top = _mm256_add_epi16(_mm256_mulhi_epu16(a, wx0), _mm256_mulhi_epu16(b, wx1));
    bot = _mm256_add_epi16(_mm256_mulhi_epu16(c, wx0), _mm256_mulhi_epu16(d, wx1));
    rb = _mm256_add_epi16(_mm256_mulhi_epu16(top, wy0), _mm256_mulhi_epu16(bot, wy1));
    a = _mm256_and_si256(p00, m_gx);
    b = _mm256_and_si256(p01, m_gx);
    c = _mm256_and_si256(p10, m_gx);
    d = _mm256_and_si256(p11, m_gx);
    top = _mm256_add_epi16(_mm256_mulhi_epu16(a, wx0), _mm256_mulhi_epu16(b, wx1));
    bot = _mm256_add_epi16(_mm256_mulhi_epu16(c, wx0), _mm256_mulhi_epu16(d, wx1));
    gx = _mm256_add_epi16(_mm256_mulhi_epu16(top, wy0), _mm256_mulhi_epu16(bot, wy1));
    rb = _mm256_and_si256(_mm256_srli_epi32(_mm256_add_epi32(rb, half), 8), m_rb);
    gx = _mm256_and_si256(_mm256_add_epi32(gx, half), m_gx);
    return _mm256_or_si256(rb, gx);
}

typedef struct {
    __m256i sw, sh, swm1, shm1, swm2, shm2, one, all, cval;
    __m256i pad, expand; /* packed RGB sources: the pad byte, and the shuffle spreading pairs to RGBX */
    const uint8_t *bytes; /* the source */
    int32_t w;
    int fill, pairs, sb3;
} c256;

__attribute__((target("avx2"))) static inline void consts_avx2(const warp_job *j, c256 *c)
{
    uint32_t cv;
    memcpy(&cv, j->cval, 4);
    c->sw = _mm256_set1_epi32(j->sw), c->sh = _mm256_set1_epi32(j->sh);
    c->swm1 = _mm256_set1_epi32(j->sw - 1), c->shm1 = _mm256_set1_epi32(j->sh - 1);
    c->swm2 = _mm256_set1_epi32(j->sw - 2), c->shm2 = _mm256_set1_epi32(j->sh - 2);
    c->one = _mm256_set1_epi32(1), c->all = _mm256_set1_epi32(-1), c->cval = _mm256_set1_epi32((int)cv);
    c->bytes = j->src;
    c->w = j->sw;
    c->fill = j->fill;
    c->pairs = j->sw >= 2 && j->sh >= 2;
    c->sb3 = j->sbpp == 3;
    c->pad = _mm256_set1_epi32((int)0xFF000000u);
    c->expand = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 8, 9, 10, -1, 11, 12, 13, -1,
                                 0, 1, 2, -1, 3, 4, 5, -1, 8, 9, 10, -1, 11, 12, 13, -1);
}

/* The pixels at 32-bit indices idx (y w + x): dword gathers; a packed RGB source is read at byte 3 idx
 * (the fourth byte read is the next pixel's, replaced by the pad byte; the caller leaves slack). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i
gather_avx2(const c256 *c, __m256i idx)
{
    if (c->sb3)
        return _mm256_or_si256(_mm256_i32gather_epi32((const int *)c->bytes, _mm256_add_epi32(idx, _mm256_add_epi32(idx, idx)), 1), c->pad);
    return _mm256_i32gather_epi32((const int *)c->bytes, idx, 4);
}

/* Pair loads: lane k reads the 8 bytes at 32-bit index idx[k] (pixels x, x + 1 of a row) and at
 * idx[k] + w (the row below). Returns the first and second pixel of each pair, top row (t0, t1) and
 * bottom row (b0, b1), in lane order. Every index must leave x + 1 and the row below inside the
 * source. Scalar 8-byte loads: on CPUs whose gathers are microcoded (AMD before Zen 4) they cost a
 * fraction of four dword gathers. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m128i
pair2_avx2(const uint8_t *s, uint64_t two, const int sb)
{
    /* (sb bytes a pixel: a packed RGB pair is 6 of the 8 bytes read) */
    const __m128i lo = _mm_loadl_epi64((const __m128i *)(s + (ptrdiff_t)sb * (uint32_t)two));
    return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(lo), (const double *)(s + (ptrdiff_t)sb * (uint32_t)(two >> 32))));
}

#define PAIRS4_AVX2(sb, base, bb, i01, i23, i45, i67, ta, tb, ba, bq)                                                      \
    ta = _mm256_inserti128_si256(_mm256_castsi128_si256(pair2_avx2(base, i01, sb)), pair2_avx2(base, i45, sb), 1);        \
    tb = _mm256_inserti128_si256(_mm256_castsi128_si256(pair2_avx2(base, i23, sb)), pair2_avx2(base, i67, sb), 1);        \
    ba = _mm256_inserti128_si256(_mm256_castsi128_si256(pair2_avx2(bb, i01, sb)), pair2_avx2(bb, i45, sb), 1);            \
    bq = _mm256_inserti128_si256(_mm256_castsi128_si256(pair2_avx2(bb, i23, sb)), pair2_avx2(bb, i67, sb), 1)

__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
pairs_avx2(const c256 *c, __m256i idx, __m256i *t0, __m256i *t1, __m256i *b0, __m256i *b1)
{
    const __m128i ia = _mm256_castsi256_si128(idx), ib = _mm256_extracti128_si256(idx, 1);
    const uint64_t i01 = (uint64_t)_mm_cvtsi128_si64(ia), i23 = (uint64_t)_mm_extract_epi64(ia, 1);
    const uint64_t i45 = (uint64_t)_mm_cvtsi128_si64(ib), i67 = (uint64_t)_mm_extract_epi64(ib, 1);
    /* lanes (0,1 | 4,5) and (2,3 | 6,7) of each row; shuffle_ps then puts the pairs' halves in order */
    __m256i ia4, ib4, ja4, jb4;
    if (c->sb3) {
        PAIRS4_AVX2(3, c->bytes, c->bytes + 3 * (ptrdiff_t)c->w, i01, i23, i45, i67, ia4, ib4, ja4, jb4);
        ia4 = _mm256_or_si256(_mm256_shuffle_epi8(ia4, c->expand), c->pad);
        ib4 = _mm256_or_si256(_mm256_shuffle_epi8(ib4, c->expand), c->pad);
        ja4 = _mm256_or_si256(_mm256_shuffle_epi8(ja4, c->expand), c->pad);
        jb4 = _mm256_or_si256(_mm256_shuffle_epi8(jb4, c->expand), c->pad);
    } else {
        PAIRS4_AVX2(4, c->bytes, c->bytes + 4 * (ptrdiff_t)c->w, i01, i23, i45, i67, ia4, ib4, ja4, jb4);
    }
    const __m256 ta = _mm256_castsi256_ps(ia4), tb = _mm256_castsi256_ps(ib4);
    const __m256 ba = _mm256_castsi256_ps(ja4), bq = _mm256_castsi256_ps(jb4);
    *t0 = _mm256_castps_si256(_mm256_shuffle_ps(ta, tb, 0x88)), *t1 = _mm256_castps_si256(_mm256_shuffle_ps(ta, tb, 0xDD));
    *b0 = _mm256_castps_si256(_mm256_shuffle_ps(ba, bq, 0x88)), *b1 = _mm256_castps_si256(_mm256_shuffle_ps(ba, bq, 0xDD));
}

/* 8 output pixels from their 32.32 coordinates, split into hi (int32) and lo (uint32) halves */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
block_avx2(const c256 *c, __m256i u_hi, __m256i u_lo, __m256i v_hi, __m256i v_lo, uint8_t *out)
{
    const __m256i fx = _mm256_srli_epi32(u_lo, 16), fy = _mm256_srli_epi32(v_lo, 16);
    __m256i p00, p01, p10, p11;
    /* every tap inside (0 <= x <= w - 2, 0 <= y <= h - 2, as unsigned): the pairs at (x, y) */
    const __m256i in = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_min_epu32(u_hi, c->swm2), u_hi),
                                        _mm256_cmpeq_epi32(_mm256_min_epu32(v_hi, c->shm2), v_hi));
    if (c->pairs && _mm256_movemask_epi8(in) == -1) {
        pairs_avx2(c, _mm256_add_epi32(_mm256_mullo_epi32(v_hi, c->sw), u_hi), &p00, &p01, &p10, &p11);
    } else {
        __m256i ox0 = _mm256_setzero_si256(), ox1 = ox0, oy0 = ox0, oy1 = ox0;
        const __m256i x0 = map_avx2(u_hi, c->sw, c->swm1, c->fill, &ox0), x1 = map_avx2(_mm256_add_epi32(u_hi, c->one), c->sw, c->swm1, c->fill, &ox1);
        const __m256i y0 = map_avx2(v_hi, c->sh, c->shm1, c->fill, &oy0), y1 = map_avx2(_mm256_add_epi32(v_hi, c->one), c->sh, c->shm1, c->fill, &oy1);
        /* Mapped taps are neighbours or equal on each axis (but across wrap's seam): read the pair
         * at the lower one (at most w - 2, h - 2) and pick each tap from it. */
        const __m256i xl = _mm256_min_epi32(_mm256_min_epi32(x0, x1), c->swm2);
        const __m256i yl = _mm256_min_epi32(_mm256_min_epi32(y0, y1), c->shm2);
        int pairs = c->pairs;
        if (pairs && c->fill == FILL_WRAP) {
            const __m256i far = _mm256_or_si256(
                _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_sub_epi32(x0, xl), c->one), _mm256_cmpgt_epi32(_mm256_sub_epi32(x1, xl), c->one)),
                _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_sub_epi32(y0, yl), c->one), _mm256_cmpgt_epi32(_mm256_sub_epi32(y1, yl), c->one)));
            pairs = _mm256_testz_si256(far, far);
        }
        if (pairs) {
            __m256i t0, t1, b0, b1;
            pairs_avx2(c, _mm256_add_epi32(_mm256_mullo_epi32(yl, c->sw), xl), &t0, &t1, &b0, &b1);
            const __m256i x0l = _mm256_cmpeq_epi32(x0, xl), x1l = _mm256_cmpeq_epi32(x1, xl);
            const __m256i y0l = _mm256_cmpeq_epi32(y0, yl), y1l = _mm256_cmpeq_epi32(y1, yl);
            const __m256i r00 = _mm256_blendv_epi8(b0, t0, y0l), r01 = _mm256_blendv_epi8(b1, t1, y0l);
            const __m256i r10 = _mm256_blendv_epi8(b0, t0, y1l), r11 = _mm256_blendv_epi8(b1, t1, y1l);
            p00 = _mm256_blendv_epi8(r01, r00, x0l), p01 = _mm256_blendv_epi8(r01, r00, x1l);
            p10 = _mm256_blendv_epi8(r11, r10, x0l), p11 = _mm256_blendv_epi8(r11, r10, x1l);
        } else {
            const __m256i r0 = _mm256_mullo_epi32(y0, c->sw), r1 = _mm256_mullo_epi32(y1, c->sw);
            p00 = gather_avx2(c, _mm256_add_epi32(r0, x0));
            p01 = gather_avx2(c, _mm256_add_epi32(r0, x1));
            p10 = gather_avx2(c, _mm256_add_epi32(r1, x0));
            p11 = gather_avx2(c, _mm256_add_epi32(r1, x1));
        }
        if (c->fill == FILL_CONSTANT) {
            p00 = _mm256_blendv_epi8(p00, c->cval, _mm256_or_si256(ox0, oy0));
            p01 = _mm256_blendv_epi8(p01, c->cval, _mm256_or_si256(ox1, oy0));
            p10 = _mm256_blendv_epi8(p10, c->cval, _mm256_or_si256(ox0, oy1));
            p11 = _mm256_blendv_epi8(p11, c->cval, _mm256_or_si256(ox1, oy1));
        }
    }
    const __m256i wx1 = _mm256_or_si256(fx, _mm256_slli_epi32(fx, 16)), wy1 = _mm256_or_si256(fy, _mm256_slli_epi32(fy, 16));
    const __m256i wx0 = _mm256_xor_si256(wx1, c->all), wy0 = _mm256_xor_si256(wy1, c->all);
    _mm256_storeu_si256((__m256i *)out, blend_avx2(p00, p01, p10, p11, wx0, wx1, wy0, wy1));
}

__attribute__((target("avx2"))) static void row4_avx2(const warp_job *j, int64_t U, int64_t DU, int64_t V,
                                                      int64_t DV, int32_t n, uint8_t *out)
{
    c256 c;
    consts_avx2(j, &c);
    /* 32.32 coordinates of 8 lanes as hi (int32) and lo (uint32) halves, stepped exactly with carry */
    int32_t uh[8], vh[8];
    uint32_t ul[8], vl[8];
    for (int k = 0; k < 8; k++) {
        const int64_t u = step(U, k, DU), v = step(V, k, DV);
        uh[k] = (int32_t)(u >> 32), ul[k] = (uint32_t)u, vh[k] = (int32_t)(v >> 32), vl[k] = (uint32_t)v;
    }
    __m256i u_hi = _mm256_loadu_si256((const __m256i *)uh), u_lo = _mm256_loadu_si256((const __m256i *)ul);
    __m256i v_hi = _mm256_loadu_si256((const __m256i *)vh), v_lo = _mm256_loadu_si256((const __m256i *)vl);
    const int64_t su = step(0, 8, DU), sv = step(0, 8, DV);
    const __m256i su_hi = _mm256_set1_epi32((int32_t)(su >> 32)), su_lo = _mm256_set1_epi32((int32_t)(uint32_t)su);
    const __m256i sv_hi = _mm256_set1_epi32((int32_t)(sv >> 32)), sv_lo = _mm256_set1_epi32((int32_t)(uint32_t)sv);
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
    const int hint = j->ss * j->sh >= PREFETCH_MIN_BYTES;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (hint)
            prefetch_taps(j, U, DU, V, DV, i, 8);
        block_avx2(&c, u_hi, u_lo, v_hi, v_lo, out + 4 * (ptrdiff_t)i);
        __m256i lo = _mm256_add_epi32(u_lo, su_lo); /* carry where lo < u_lo, unsigned */
        u_hi = _mm256_sub_epi32(_mm256_add_epi32(u_hi, su_hi), _mm256_cmpgt_epi32(_mm256_xor_si256(u_lo, sign), _mm256_xor_si256(lo, sign)));
        u_lo = lo;
        lo = _mm256_add_epi32(v_lo, sv_lo);
        v_hi = _mm256_sub_epi32(_mm256_add_epi32(v_hi, sv_hi), _mm256_cmpgt_epi32(_mm256_xor_si256(v_lo, sign), _mm256_xor_si256(lo, sign)));
        v_lo = lo;
    }
    row4_scalar(j, step(U, i, DU), DU, step(V, i, DV), DV, n - i, out + 4 * (ptrdiff_t)i);
}

/* fill_coords for 4 lanes at a time, the scalar code's exact IEEE steps (as fill_coords_avx512) */
__attribute__((target("avx2"))) static void fill_coords_avx2(const warp_job *j, int32_t y, int32_t xa, int32_t n,
                                                             coords *k)
{
    const double *m = j->m;
    const double ofs = (double)rounding_offset(j->interp);
    const __m256d m0 = _mm256_set1_pd(m[0]), m3 = _mm256_set1_pd(m[3]), m6 = _mm256_set1_pd(m[6]);
    const __m256d uy = _mm256_set1_pd(m[1] * y), vy = _mm256_set1_pd(m[4] * y), wy = _mm256_set1_pd(m[7] * y);
    const __m256d m2 = _mm256_set1_pd(m[2]), m5 = _mm256_set1_pd(m[5]), m8 = _mm256_set1_pd(m[8]);
    const __m256d lim = _mm256_set1_pd(COORD_LIMIT), nlim = _mm256_set1_pd(-COORD_LIMIT);
    const __m256d two32 = _mm256_set1_pd(4294967296.0), two31 = _mm256_set1_pd(2147483648.0);
    const __m256d half = _mm256_set1_pd(0.5), one = _mm256_set1_pd(1.0), step4 = _mm256_set1_pd(4.0);
    const __m128i sign = _mm_set1_epi32((int)0x80000000u);
    __m256d x = _mm256_add_pd(_mm256_set1_pd((double)xa), _mm256_set_pd(3, 2, 1, 0));
    __m128i umin = _mm_set1_epi32(INT32_MAX), umax = _mm_set1_epi32(INT32_MIN), vmin = umin, vmax = umax;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4, x = _mm256_add_pd(x, step4)) {
        __m256d u = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m0, x), uy), m2);
        __m256d v = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m3, x), vy), m5);
        if (!j->affine) {
            const __m256d r = _mm256_div_pd(one, _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(m6, x), wy), m8));
            u = _mm256_mul_pd(u, r);
            v = _mm256_mul_pd(v, r);
        }
        for (int c = 0; c < 2; c++) {
            __m256d d = c == 0 ? u : v;
            d = _mm256_blendv_pd(nlim, d, _mm256_cmp_pd(d, nlim, _CMP_GT_OQ)); /* NaN too */
            d = _mm256_blendv_pd(d, lim, _mm256_cmp_pd(d, lim, _CMP_GT_OQ));
            __m256d ip = _mm256_floor_pd(d);
            __m256d g = _mm256_add_pd(_mm256_floor_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_sub_pd(d, ip), two32), half)),
                                      _mm256_set1_pd(ofs));
            const __m256d carry = _mm256_cmp_pd(g, two32, _CMP_GE_OQ);
            g = _mm256_sub_pd(g, _mm256_and_pd(carry, two32));
            ip = _mm256_add_pd(ip, _mm256_and_pd(carry, one));
            const __m128i hi = _mm256_cvttpd_epi32(ip);
            const __m128i lo = _mm_xor_si128(_mm256_cvttpd_epi32(_mm256_sub_pd(g, two31)), sign); /* as uint32 */
            if (c == 0) {
                _mm_storeu_si128((__m128i *)(k->uh + i), hi);
                _mm_storeu_si128((__m128i *)(k->ul + i), lo);
                umin = _mm_min_epi32(umin, hi), umax = _mm_max_epi32(umax, hi);
            } else {
                _mm_storeu_si128((__m128i *)(k->vh + i), hi);
                _mm_storeu_si128((__m128i *)(k->vl + i), lo);
                vmin = _mm_min_epi32(vmin, hi), vmax = _mm_max_epi32(vmax, hi);
            }
        }
    }
    int32_t a[4], b[4], c4[4], d4[4];
    _mm_storeu_si128((__m128i *)a, umin), _mm_storeu_si128((__m128i *)b, umax);
    _mm_storeu_si128((__m128i *)c4, vmin), _mm_storeu_si128((__m128i *)d4, vmax);
    fill_coords_from(j, y, xa, i, n, k); /* the tail, and the ranges of the tail */
    for (int q = 0; q < 4 && i > 0; q++) {
        k->umin = a[q] < k->umin ? a[q] : k->umin, k->umax = b[q] > k->umax ? b[q] : k->umax;
        k->vmin = c4[q] < k->vmin ? c4[q] : k->vmin, k->vmax = d4[q] > k->vmax ? d4[q] : k->vmax;
    }
}

/* the same, for coordinates computed per pixel (projective rows): read from arrays */
__attribute__((target("avx2"))) static void rowc_avx2(const warp_job *j, const coords *k, int32_t n, uint8_t *out)
{
    c256 c;
    consts_avx2(j, &c);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        block_avx2(&c, _mm256_loadu_si256((const __m256i *)(k->uh + i)), _mm256_loadu_si256((const __m256i *)(k->ul + i)),
                   _mm256_loadu_si256((const __m256i *)(k->vh + i)), _mm256_loadu_si256((const __m256i *)(k->vl + i)),
                   out + 4 * (ptrdiff_t)i);
    rowc_scalar(j, k, i, n, out);
}

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static inline __m512i map_avx512(__m512i i, __m512i n, __m512i nm1, int fill, __mmask16 *outside)
{
    const __m512i zero = _mm512_setzero_si512();
    __mmask16 k;
    switch (fill) {
    case FILL_REFLECT:
        k = _mm512_cmplt_epi32_mask(i, zero);
        i = _mm512_mask_sub_epi32(i, k, _mm512_set1_epi32(-1), i);
        k = _mm512_cmpgt_epi32_mask(i, nm1);
        return _mm512_mask_sub_epi32(i, k, _mm512_add_epi32(n, nm1), i);
    case FILL_WRAP:
        i = _mm512_mask_add_epi32(i, _mm512_cmplt_epi32_mask(i, zero), i, n);
        return _mm512_mask_sub_epi32(i, _mm512_cmpgt_epi32_mask(i, nm1), i, n);
    case FILL_CONSTANT:
        *outside |= (__mmask16)(_mm512_cmplt_epi32_mask(i, zero) | _mm512_cmpgt_epi32_mask(i, nm1));
        /* fall through */
    default:
        return _mm512_min_epi32(_mm512_max_epi32(i, zero), nm1);
    }
}

AVX512 static inline __m512i blend_avx512(__m512i p00, __m512i p01, __m512i p10, __m512i p11, __m512i wx0,
                                          __m512i wx1, __m512i wy0, __m512i wy1)
{
    const __m512i m_rb = _mm512_set1_epi32(0x00FF00FF), m_gx = _mm512_set1_epi32((int)0xFF00FF00u);
    const __m512i half = _mm512_set1_epi32(0x00800080);
    __m512i a, b, c, d, top, bot, rb, gx;
    a = _mm512_slli_epi32(_mm512_and_si512(p00, m_rb), 8);
    b = _mm512_slli_epi32(_mm512_and_si512(p01, m_rb), 8);
    c = _mm512_slli_epi32(_mm512_and_si512(p10, m_rb), 8);
    d = _mm512_slli_epi32(_mm512_and_si512(p11, m_rb), 8);
    top = _mm512_add_epi16(_mm512_mulhi_epu16(a, wx0), _mm512_mulhi_epu16(b, wx1));
    bot = _mm512_add_epi16(_mm512_mulhi_epu16(c, wx0), _mm512_mulhi_epu16(d, wx1));
    rb = _mm512_add_epi16(_mm512_mulhi_epu16(top, wy0), _mm512_mulhi_epu16(bot, wy1));
    a = _mm512_and_si512(p00, m_gx);
    b = _mm512_and_si512(p01, m_gx);
    c = _mm512_and_si512(p10, m_gx);
    d = _mm512_and_si512(p11, m_gx);
    top = _mm512_add_epi16(_mm512_mulhi_epu16(a, wx0), _mm512_mulhi_epu16(b, wx1));
    bot = _mm512_add_epi16(_mm512_mulhi_epu16(c, wx0), _mm512_mulhi_epu16(d, wx1));
    gx = _mm512_add_epi16(_mm512_mulhi_epu16(top, wy0), _mm512_mulhi_epu16(bot, wy1));
    rb = _mm512_and_si512(_mm512_srli_epi32(_mm512_add_epi32(rb, half), 8), m_rb);
    gx = _mm512_and_si512(_mm512_add_epi32(gx, half), m_gx);
    return _mm512_or_si512(rb, gx);
}

/* The taps x0 and x1 of row r (pixel index r + x), which the fill mapping leaves equal or adjacent
 * except at a wrap seam: one qword gather per 8 lanes fetches the pixel pair at xq = min(x0, x1, w - 2),
 * and lanes whose taps lie outside that pair (the seam) fetch alone. Needs w >= 2. */
typedef struct {
    __m512i sw, sh, swm1, shm1, swm2, shm2, one, all, cval;
    __m512i pad, expand; /* packed RGB sources: the pad byte, and the shuffle spreading pairs to RGBX */
    const void *base;
    int fill, pairs, sb3;
    c256 half; /* for the interior blocks' pair loads, 8 lanes at a time (pairs_avx2) */
} c512;

/* The pixels at 32-bit indices idx (y w + x), as gather_avx2 */
AVX512 static inline __m512i gather_avx512(const c512 *c, __m512i idx)
{
    if (c->sb3)
        return _mm512_or_si512(_mm512_i32gather_epi32(_mm512_add_epi32(idx, _mm512_add_epi32(idx, idx)), c->base, 1), c->pad);
    return _mm512_i32gather_epi32(idx, c->base, 4);
}

AVX512 static inline void pair_avx512(const c512 *c, __m512i r, __m512i x0, __m512i x1, __m512i *p0, __m512i *p1)
{
    const void *base = c->base;
    const __m512i swm2 = c->swm2;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512i xq = _mm512_min_epi32(_mm512_min_epi32(x0, x1), swm2), xq1 = _mm512_add_epi32(xq, _mm512_set1_epi32(1));
    const __m512i idx = _mm512_add_epi32(r, xq);
    __m512i lo, hi;
    if (c->sb3) { /* the pair's 6 bytes at byte 3 idx, spread to two RGBX pixels */
        const __m512i i3 = _mm512_add_epi32(idx, _mm512_add_epi32(idx, idx));
        lo = _mm512_i32gather_epi64(_mm512_castsi512_si256(i3), base, 1);
        hi = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(i3, 1), base, 1);
        lo = _mm512_or_si512(_mm512_shuffle_epi8(lo, c->expand), c->pad);
        hi = _mm512_or_si512(_mm512_shuffle_epi8(hi, c->expand), c->pad);
    } else {
        lo = _mm512_i32gather_epi64(_mm512_castsi512_si256(idx), base, 4);
        hi = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(idx, 1), base, 4);
    }
    const __m512i a = _mm512_permutex2var_epi32(lo, even, hi), b = _mm512_permutex2var_epi32(lo, odd, hi);
    const __mmask16 a0 = _mm512_cmpeq_epi32_mask(x0, xq), a1 = _mm512_cmpeq_epi32_mask(x1, xq);
    *p0 = _mm512_mask_blend_epi32(a0, b, a);
    *p1 = _mm512_mask_blend_epi32(a1, b, a);
    const __mmask16 seam0 = (__mmask16)~(a0 | _mm512_cmpeq_epi32_mask(x0, xq1));
    const __mmask16 seam1 = (__mmask16)~(a1 | _mm512_cmpeq_epi32_mask(x1, xq1));
    if (seam0)
        *p0 = _mm512_mask_blend_epi32(seam0, *p0, gather_avx512(c, _mm512_add_epi32(r, x0)));
    if (seam1)
        *p1 = _mm512_mask_blend_epi32(seam1, *p1, gather_avx512(c, _mm512_add_epi32(r, x1)));
}

AVX512 static inline void consts_avx512(const warp_job *j, c512 *c)
{
    uint32_t cv;
    memcpy(&cv, j->cval, 4);
    c->sw = _mm512_set1_epi32(j->sw), c->sh = _mm512_set1_epi32(j->sh);
    c->swm1 = _mm512_set1_epi32(j->sw - 1), c->shm1 = _mm512_set1_epi32(j->sh - 1), c->swm2 = _mm512_set1_epi32(j->sw - 2);
    c->one = _mm512_set1_epi32(1), c->all = _mm512_set1_epi32(-1), c->cval = _mm512_set1_epi32((int)cv);
    c->base = j->src;
    c->fill = j->fill;
    c->pairs = j->sw >= 2;
    c->sb3 = j->sbpp == 3;
    c->pad = _mm512_set1_epi32((int)0xFF000000u);
    c->expand = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 8, 9, 10, -1, 11, 12, 13, -1));
    c->shm2 = _mm512_set1_epi32(j->sh - 2);
    consts_avx2(j, &c->half);
}

/* 16 output pixels from their 32.32 coordinates, split into hi (int32) and lo (uint32) halves */
AVX512 static inline void block_avx512(const c512 *c, __m512i u_hi, __m512i u_lo, __m512i v_hi, __m512i v_lo,
                                       uint8_t *out)
{
    const __m512i fx = _mm512_srli_epi32(u_lo, 16), fy = _mm512_srli_epi32(v_lo, 16);
    __m512i p00, p01, p10, p11;
    /* every tap inside (0 <= x <= w - 2, 0 <= y <= h - 2, as unsigned): each row's pair by one 8-byte
     * load per lane, as the AVX2 rows (gathers cost more on the CPUs measured: AMD Zen 3 and 4) */
    if (c->half.pairs && (__mmask16)(_mm512_cmple_epu32_mask(u_hi, c->swm2) & _mm512_cmple_epu32_mask(v_hi, c->shm2)) == 0xFFFF) {
        const __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(v_hi, c->sw), u_hi);
        __m256i a[4], b[4];
        pairs_avx2(&c->half, _mm512_castsi512_si256(idx), &a[0], &a[1], &a[2], &a[3]);
        pairs_avx2(&c->half, _mm512_extracti64x4_epi64(idx, 1), &b[0], &b[1], &b[2], &b[3]);
        p00 = _mm512_inserti64x4(_mm512_castsi256_si512(a[0]), b[0], 1);
        p01 = _mm512_inserti64x4(_mm512_castsi256_si512(a[1]), b[1], 1);
        p10 = _mm512_inserti64x4(_mm512_castsi256_si512(a[2]), b[2], 1);
        p11 = _mm512_inserti64x4(_mm512_castsi256_si512(a[3]), b[3], 1);
        goto blend;
    }
    __mmask16 ox0 = 0, ox1 = 0, oy0 = 0, oy1 = 0;
    const __m512i x0 = map_avx512(u_hi, c->sw, c->swm1, c->fill, &ox0), x1 = map_avx512(_mm512_add_epi32(u_hi, c->one), c->sw, c->swm1, c->fill, &ox1);
    const __m512i y0 = map_avx512(v_hi, c->sh, c->shm1, c->fill, &oy0), y1 = map_avx512(_mm512_add_epi32(v_hi, c->one), c->sh, c->shm1, c->fill, &oy1);
    const __m512i r0 = _mm512_mullo_epi32(y0, c->sw), r1 = _mm512_mullo_epi32(y1, c->sw);
    if (c->pairs) {
        pair_avx512(c, r0, x0, x1, &p00, &p01);
        pair_avx512(c, r1, x0, x1, &p10, &p11);
    } else {
        p00 = gather_avx512(c, _mm512_add_epi32(r0, x0));
        p01 = gather_avx512(c, _mm512_add_epi32(r0, x1));
        p10 = gather_avx512(c, _mm512_add_epi32(r1, x0));
        p11 = gather_avx512(c, _mm512_add_epi32(r1, x1));
    }
    if (c->fill == FILL_CONSTANT) {
        p00 = _mm512_mask_blend_epi32(ox0 | oy0, p00, c->cval);
        p01 = _mm512_mask_blend_epi32(ox1 | oy0, p01, c->cval);
        p10 = _mm512_mask_blend_epi32(ox0 | oy1, p10, c->cval);
        p11 = _mm512_mask_blend_epi32(ox1 | oy1, p11, c->cval);
    }
blend:;
    const __m512i wx1 = _mm512_or_si512(fx, _mm512_slli_epi32(fx, 16)), wy1 = _mm512_or_si512(fy, _mm512_slli_epi32(fy, 16));
    const __m512i wx0 = _mm512_xor_si512(wx1, c->all), wy0 = _mm512_xor_si512(wy1, c->all);
    _mm512_storeu_si512((void *)out, blend_avx512(p00, p01, p10, p11, wx0, wx1, wy0, wy1));
}

AVX512 static void row4_avx512(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n,
                               uint8_t *out)
{
    c512 c;
    consts_avx512(j, &c);
    int32_t uh[16], vh[16];
    uint32_t ul[16], vl[16];
    for (int k = 0; k < 16; k++) {
        const int64_t u = step(U, k, DU), v = step(V, k, DV);
        uh[k] = (int32_t)(u >> 32), ul[k] = (uint32_t)u, vh[k] = (int32_t)(v >> 32), vl[k] = (uint32_t)v;
    }
    __m512i u_hi = _mm512_loadu_si512(uh), u_lo = _mm512_loadu_si512(ul);
    __m512i v_hi = _mm512_loadu_si512(vh), v_lo = _mm512_loadu_si512(vl);
    const int64_t su = step(0, 16, DU), sv = step(0, 16, DV);
    const __m512i su_hi = _mm512_set1_epi32((int32_t)(su >> 32)), su_lo = _mm512_set1_epi32((int32_t)(uint32_t)su);
    const __m512i sv_hi = _mm512_set1_epi32((int32_t)(sv >> 32)), sv_lo = _mm512_set1_epi32((int32_t)(uint32_t)sv);
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_taps(j, U, DU, V, DV, i, 16);
        block_avx512(&c, u_hi, u_lo, v_hi, v_lo, out + 4 * (ptrdiff_t)i);
        __m512i lo = _mm512_add_epi32(u_lo, su_lo);
        u_hi = _mm512_mask_sub_epi32(_mm512_add_epi32(u_hi, su_hi), _mm512_cmplt_epu32_mask(lo, u_lo), _mm512_add_epi32(u_hi, su_hi), c.all);
        u_lo = lo;
        lo = _mm512_add_epi32(v_lo, sv_lo);
        v_hi = _mm512_mask_sub_epi32(_mm512_add_epi32(v_hi, sv_hi), _mm512_cmplt_epu32_mask(lo, v_lo), _mm512_add_epi32(v_hi, sv_hi), c.all);
        v_lo = lo;
    }
    row4_scalar(j, step(U, i, DU), DU, step(V, i, DV), DV, n - i, out + 4 * (ptrdiff_t)i);
}

/* fill_coords for 8 lanes at a time: the same IEEE operations in the same order as the scalar
 * code (no FMA: products and sums are rounded one by one), so every lane gets the same integers. */
AVX512 static void fill_coords_avx512(const warp_job *j, int32_t y, int32_t xa, int32_t n, coords *k)
{
    const double *m = j->m;
    const double ofs = (double)rounding_offset(j->interp);
    const __m512d m0 = _mm512_set1_pd(m[0]), m3 = _mm512_set1_pd(m[3]), m6 = _mm512_set1_pd(m[6]);
    const __m512d uy = _mm512_set1_pd(m[1] * y), vy = _mm512_set1_pd(m[4] * y), wy = _mm512_set1_pd(m[7] * y);
    const __m512d m2 = _mm512_set1_pd(m[2]), m5 = _mm512_set1_pd(m[5]), m8 = _mm512_set1_pd(m[8]);
    const __m512d lim = _mm512_set1_pd(COORD_LIMIT), nlim = _mm512_set1_pd(-COORD_LIMIT);
    const __m512d two32 = _mm512_set1_pd(4294967296.0), half = _mm512_set1_pd(0.5), one = _mm512_set1_pd(1.0);
    const __m512d step8 = _mm512_set1_pd(8.0);
    __m512d x = _mm512_add_pd(_mm512_set1_pd((double)xa), _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0));
    __m256i umin = _mm256_set1_epi32(INT32_MAX), umax = _mm256_set1_epi32(INT32_MIN), vmin = umin, vmax = umax;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8, x = _mm512_add_pd(x, step8)) {
        __m512d u = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(m0, x), uy), m2);
        __m512d v = _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(m3, x), vy), m5);
        if (!j->affine) {
            const __m512d r = _mm512_div_pd(one, _mm512_add_pd(_mm512_add_pd(_mm512_mul_pd(m6, x), wy), m8));
            u = _mm512_mul_pd(u, r);
            v = _mm512_mul_pd(v, r);
        }
        for (int c = 0; c < 2; c++) {
            __m512d d = c == 0 ? u : v;
            d = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(d, nlim, _CMP_GT_OQ), nlim, d); /* NaN too */
            d = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(d, lim, _CMP_GT_OQ), d, lim);
            __m512d ip = _mm512_roundscale_pd(d, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m512d g = _mm512_roundscale_pd(_mm512_add_pd(_mm512_mul_pd(_mm512_sub_pd(d, ip), two32), half),
                                             _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            g = _mm512_add_pd(g, _mm512_set1_pd(ofs));
            const __mmask8 carry = _mm512_cmp_pd_mask(g, two32, _CMP_GE_OQ);
            g = _mm512_mask_sub_pd(g, carry, g, two32);
            ip = _mm512_mask_add_pd(ip, carry, ip, one);
            const __m256i hi = _mm512_cvttpd_epi32(ip), lo = _mm512_cvttpd_epu32(g);
            if (c == 0) {
                _mm256_storeu_si256((__m256i *)(k->uh + i), hi);
                _mm256_storeu_si256((__m256i *)(k->ul + i), lo);
                umin = _mm256_min_epi32(umin, hi), umax = _mm256_max_epi32(umax, hi);
            } else {
                _mm256_storeu_si256((__m256i *)(k->vh + i), hi);
                _mm256_storeu_si256((__m256i *)(k->vl + i), lo);
                vmin = _mm256_min_epi32(vmin, hi), vmax = _mm256_max_epi32(vmax, hi);
            }
        }
    }
    int32_t a[8], b[8], c8[8], d8[8];
    _mm256_storeu_si256((__m256i *)a, umin), _mm256_storeu_si256((__m256i *)b, umax);
    _mm256_storeu_si256((__m256i *)c8, vmin), _mm256_storeu_si256((__m256i *)d8, vmax);
    fill_coords_from(j, y, xa, i, n, k); /* the tail, and the ranges of the tail */
    for (int q = 0; q < 8 && i > 0; q++) {
        k->umin = a[q] < k->umin ? a[q] : k->umin, k->umax = b[q] > k->umax ? b[q] : k->umax;
        k->vmin = c8[q] < k->vmin ? c8[q] : k->vmin, k->vmax = d8[q] > k->vmax ? d8[q] : k->vmax;
    }
}

AVX512 static void rowc_avx512(const warp_job *j, const coords *k, int32_t n, uint8_t *out)
{
    c512 c;
    consts_avx512(j, &c);
    int32_t i = 0;
    for (; i + 16 <= n; i += 16)
        block_avx512(&c, _mm512_loadu_si512(k->uh + i), _mm512_loadu_si512(k->ul + i), _mm512_loadu_si512(k->vh + i),
                     _mm512_loadu_si512(k->vl + i), out + 4 * (ptrdiff_t)i);
    rowc_scalar(j, k, i, n, out);
}

#endif /* AUGCLI_X86 */

static void rowc_scalar_all(const warp_job *j, const coords *k, int32_t n, uint8_t *out)
{
    rowc_scalar(j, k, 0, n, out);
}

/* row4_scalar for rows with per-pixel coordinates (8-bit, 4 bytes per pixel, bilinear; any fold) */
static inline __attribute__((always_inline)) void rowc4_body(const warp_job *j, const coords *k, int32_t n,
                                                             uint8_t *out, const int sb)
{
    const uint32_t wm1 = (uint32_t)(j->sw - 1), hm1 = (uint32_t)(j->sh - 1);
    const ptrdiff_t ss = j->ss;
    uint8_t t00[4 * ROW4_BLOCK], t01[4 * ROW4_BLOCK], t10[4 * ROW4_BLOCK], t11[4 * ROW4_BLOCK];
    uint16_t fx[4 * ROW4_BLOCK], fy[4 * ROW4_BLOCK];
    for (int32_t i0 = 0; i0 < n; i0 += ROW4_BLOCK) {
        const int m = n - i0 < ROW4_BLOCK ? (int)(n - i0) : ROW4_BLOCK;
        for (int q = 0; q < m; q++) {
            const int32_t i = i0 + q, ix = k->uh[i], iy = k->vh[i];
            if ((uint32_t)ix < wm1 && (uint32_t)iy < hm1) {
                const uint8_t *p = j->src + (ptrdiff_t)iy * ss + (ptrdiff_t)ix * sb;
                tap4(t00 + 4 * q, p, sb, NULL);
                tap4(t01 + 4 * q, p + sb, sb, NULL);
                tap4(t10 + 4 * q, p + ss, sb, NULL);
                tap4(t11 + 4 * q, p + ss + sb, sb, NULL);
            } else {
                border_taps(j, joined(ix, k->ul[i]), joined(iy, k->vl[i]), t00 + 4 * q, t01 + 4 * q, t10 + 4 * q,
                            t11 + 4 * q, sb);
            }
            const uint16_t wx = (uint16_t)(k->ul[i] >> 16), wy = (uint16_t)(k->vl[i] >> 16);
            for (int c = 0; c < 4; c++)
                fx[4 * q + c] = wx, fy[4 * q + c] = wy;
        }
        blend_bytes(t00, t01, t10, t11, fx, fy, out + 4 * (ptrdiff_t)i0, 4 * m);
    }
}

static void rowc4_scalar(const warp_job *j, const coords *k, int32_t n, uint8_t *out)
{
    if (j->sbpp == 3)
        rowc4_body(j, k, n, out, 3);
    else
        rowc4_body(j, k, n, out, 4);
}

/* The row functions one warp runs, chosen once: the fastest for its path and layout, and the ones
 * that take any fill mode and any coordinates (the SIMD rows need one fold of reflect / wrap to
 * cover every tap of a row, which ``one_fold`` says). */
typedef struct {
    row4_fn row, row_any;   /* exactly stepped rows */
    rowc_fn rowc, rowc_any; /* rows with per-pixel coordinates */
    fill_fn fill;           /* computes those coordinates */
    int one_fold;
} row_kernels;

static row_kernels kernels_for(const warp_job *j, int path)
{
    /* the SIMD rows index pixels (packed RGB: bytes) with int32 and read a packed source's pixels 4
     * (pairs: 8) bytes at a time, so they need 2 bytes of slack after it */
    const int simd = j->bpp == 4 && !j->wide && j->interp == INTERP_BILINEAR && j->ss == j->sbpp * (ptrdiff_t)j->sw &&
                     (j->sbpp == 4 ? (int64_t)j->sw * j->sh < ((int64_t)1 << 31)
                                   : 3 * (int64_t)j->sw * j->sh + 8 < ((int64_t)1 << 31) && j->slack >= 2);
    row_kernels k = {simd ? row4_scalar : row_scalar, simd ? row4_scalar : row_scalar,
                     simd ? rowc4_scalar : rowc_scalar_all, simd ? rowc4_scalar : rowc_scalar_all, fill_coords_scalar, 0};
#if AUGCLI_X86
    if (path == AUGCLI_AVX512) {
        k.fill = fill_coords_avx512;
        if (simd)
            k.row = row4_avx512, k.rowc = rowc_avx512, k.one_fold = 1;
    } else if (path == AUGCLI_AVX2) {
        k.fill = fill_coords_avx2;
        if (simd)
            k.row = row4_avx2, k.rowc = rowc_avx2, k.one_fold = 1;
    }
#endif
    (void)path;
    return k;
}

/* ---------------------------------------------------------------------------------------------- */
/* the driver: rows in output tiles (cache locality), each row exact or per pixel */

/* Does one fold of the fill mode cover every tap of a row segment (the SIMD rows need it)? */
static int one_fold_covers(int64_t U, int64_t DU, int32_t n, int32_t size)
{
    const int64_t a = U >> 32, b = step(U, n - 1, DU) >> 32;
    const int64_t lo = a < b ? a : b, hi = (a < b ? b : a) + 1;
    return lo >= -(int64_t)size && hi <= 2 * (int64_t)size - 1;
}

static void warp_segment(const warp_job *j, int32_t y, int32_t xa, int32_t xb, const row_kernels *rk)
{
    const double *m = j->m;
    const int64_t ofs = rounding_offset(j->interp);
    uint8_t *out = j->dst + (ptrdiff_t)y * j->ds + (ptrdiff_t)xa * j->bpp;
    const int32_t n = xb - xa;
    const int any_fold = !rk->one_fold || j->fill == FILL_NEAREST || j->fill == FILL_CONSTANT;
    if (j->affine) {
        const double ua = m[1] * y + m[2], va = m[4] * y + m[5];
        const double ub = ua + m[0] * (j->dw - 1), vb = va + m[3] * (j->dw - 1);
        if (fabs(ua) < COORD_LIMIT && fabs(va) < COORD_LIMIT && fabs(ub) < COORD_LIMIT && fabs(vb) < COORD_LIMIT) {
            /* exact stepping: u(x) = U_row + x DU for every x of the row */
            const int64_t DU = j->dw > 1 ? to_fixed(m[0]) : 0, DV = j->dw > 1 ? to_fixed(m[3]) : 0;
            const int64_t U = step(to_fixed(ua) + ofs, xa, DU), V = step(to_fixed(va) + ofs, xa, DV);
            const int folds = any_fold || (one_fold_covers(U, DU, n, j->sw) && one_fold_covers(V, DV, n, j->sh));
            (folds ? rk->row : rk->row_any)(j, U, DU, V, DV, n, out);
            return;
        }
    }
    coords k;
    rk->fill(j, y, xa, n, &k);
    const int folds = any_fold || (k.umin >= -(int64_t)j->sw && k.umax + 1 <= 2 * (int64_t)j->sw - 1 &&
                                   k.vmin >= -(int64_t)j->sh && k.vmax + 1 <= 2 * (int64_t)j->sh - 1);
    (folds ? rk->rowc : rk->rowc_any)(j, &k, n, out);
}

static void run_warp(const warp_job *j, int path)
{
    const row_kernels rk = kernels_for(j, path);
    /* sizes are at most 2^30 (py_warp), so a tile's end never overflows */
    for (int32_t ty = 0; ty < j->dh; ty += TILE_ROWS) {
        const int32_t ty1 = j->dh - ty < TILE_ROWS ? j->dh : ty + TILE_ROWS;
        for (int32_t tx = 0; tx < j->dw; tx += TILE_COLS) {
            const int32_t tx1 = j->dw - tx < TILE_COLS ? j->dw : tx + TILE_COLS;
            for (int32_t y = ty; y < ty1; y++)
                warp_segment(j, y, tx, tx1, &rk);
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* the remap: per-pixel source coordinates interpolated from a coarse node grid (non-affine maps)
 *
 * Node (i, k) holds the source coordinates of output pixel (i 2^s, k 2^s) in 16.16 fixed point.
 * A pixel's coordinates are the bilinear blend of its cell's four nodes with the exact integer
 * weights (2^s - f) and f, rounded half up once: integer arithmetic only, so every path computes the
 * same coordinates; the coordinates then go through the warp's own per-pixel rows (and their SIMD
 * forms), so sampling, fill modes and rounding are the warp's. Only the grid (1 / 4^s of the
 * pixels) is ever held: the coordinates are made row segment by row segment. */

#define GRID_LIMIT ((int64_t)1 << 45) /* +-2^29 px in 16.16: blends of 4^8 weights stay in int64 */

static inline __attribute__((always_inline)) void grid_coords(const warp_job *j, int32_t y, int32_t xa, int32_t n,
                                                                coords *k)
{
    const int s = j->gshift;
    const int64_t S = (int64_t)1 << s, half = (int64_t)1 << (2 * s) >> 1;
    const int32_t cy = y >> s;
    const int64_t fy = y & (S - 1);
    const int64_t *r0 = j->grid + 2 * (ptrdiff_t)cy * j->gw, *r1 = r0 + 2 * (ptrdiff_t)j->gw;
    const int64_t ofs = rounding_offset(j->interp);
    /* Cell by cell: the nodes blended down the rows once (A, B at the cell's left and right), then
     * (S - fx) A + fx B = S A + fx (B - A) stepped along x by adding B - A: the same integers as
     * blending all four nodes per pixel. Every sum stays below 2^63 (nodes within 2^45, S <= 2^8). */
    for (int32_t i = 0; i < n;) {
        const int32_t x = xa + i, cx = x >> s;
        const int64_t fx = x & (S - 1);
        const int64_t *a = r0 + 2 * (ptrdiff_t)cx, *b = r1 + 2 * (ptrdiff_t)cx;
        const int64_t au = a[0] * (S - fy) + b[0] * fy, av = a[1] * (S - fy) + b[1] * fy;
        const int64_t du = a[2] * (S - fy) + b[2] * fy - au, dv = a[3] * (S - fy) + b[3] * fy - av;
        int64_t nu = au * S + du * fx + half, nv = av * S + dv * fx + half;
        const int32_t end = n - i < S - fx ? n : i + (int32_t)(S - fx);
        for (; i < end; i++, nu += du, nv += dv) {
            /* 16.16 -> 32.32 (a multiply: shifting a negative value left is undefined in C) */
            const int64_t U = (nu >> (2 * s)) * 65536 + ofs, V = (nv >> (2 * s)) * 65536 + ofs;
            k->uh[i] = (int32_t)(U >> 32), k->ul[i] = (uint32_t)U, k->vh[i] = (int32_t)(V >> 32), k->vl[i] = (uint32_t)V;
        }
    }
    int32_t umin = INT32_MAX, umax = INT32_MIN, vmin = INT32_MAX, vmax = INT32_MIN;
    for (int32_t i = 0; i < n; i++) { /* the ranges in a pass of their own, which vectorises */
        umin = k->uh[i] < umin ? k->uh[i] : umin, umax = k->uh[i] > umax ? k->uh[i] : umax;
        vmin = k->vh[i] < vmin ? k->vh[i] : vmin, vmax = k->vh[i] > vmax ? k->vh[i] : vmax;
    }
    k->umin = umin, k->umax = umax, k->vmin = vmin, k->vmax = vmax;
}

/* one integer body, compiled for each path (the compiler may vectorise it; the integers are the same) */
AUGCLI_VECTORISE static void fill_coords_grid(const warp_job *j, int32_t y, int32_t xa, int32_t n, coords *k)
{
    grid_coords(j, y, xa, n, k);
}

#if AUGCLI_X86
AUGCLI_VECTORISE __attribute__((target("avx2"))) static void fill_coords_grid_avx2(const warp_job *j, int32_t y,
                                                                                   int32_t xa, int32_t n, coords *k)
{
    grid_coords(j, y, xa, n, k);
}

AUGCLI_VECTORISE __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2"))) static void
fill_coords_grid_avx512(const warp_job *j, int32_t y, int32_t xa, int32_t n, coords *k)
{
    grid_coords(j, y, xa, n, k);
}
#endif

static void run_remap(const warp_job *j, int path)
{
    const row_kernels rk = kernels_for(j, path);
    const int any_fold = !rk.one_fold || j->fill == FILL_NEAREST || j->fill == FILL_CONSTANT;
    fill_fn fill = fill_coords_grid;
#if AUGCLI_X86
    if (path == AUGCLI_AVX512)
        fill = fill_coords_grid_avx512;
    else if (path == AUGCLI_AVX2)
        fill = fill_coords_grid_avx2;
#endif
    coords k;
    for (int32_t ty = 0; ty < j->dh; ty += TILE_ROWS) {
        const int32_t ty1 = j->dh - ty < TILE_ROWS ? j->dh : ty + TILE_ROWS;
        for (int32_t tx = 0; tx < j->dw; tx += TILE_COLS) {
            const int32_t tx1 = j->dw - tx < TILE_COLS ? j->dw : tx + TILE_COLS;
            for (int32_t y = ty; y < ty1; y++) {
                const int32_t n = tx1 - tx;
                fill(j, y, tx, n, &k);
                const int folds = any_fold || (k.umin >= -(int64_t)j->sw && k.umax + 1 <= 2 * (int64_t)j->sw - 1 &&
                                               k.vmin >= -(int64_t)j->sh && k.vmax + 1 <= 2 * (int64_t)j->sh - 1);
                (folds ? rk.rowc : rk.rowc_any)(j, &k, n, j->dst + (ptrdiff_t)y * j->ds + (ptrdiff_t)tx * j->bpp);
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Python face */

#define MAX_SIDE (1 << 30) /* widths and heights: every index, tile end and (h - 1) * stride stays exact */

static int check_extent(const char *what, Py_ssize_t len, int32_t w, int32_t h, ptrdiff_t stride, int bpp)
{
    if (w > MAX_SIDE || h > MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "%s: image too large: %dx%d (each side at most %d)", what, (int)w, (int)h,
                     MAX_SIDE);
        return -1;
    }
    if (w < 1 || h < 1 || stride < (ptrdiff_t)w * bpp) {
        PyErr_Format(PyExc_ValueError, "%s: bad geometry %dx%d, stride %zd", what, (int)w, (int)h, (Py_ssize_t)stride);
        return -1;
    }
    const ptrdiff_t row = (ptrdiff_t)w * bpp; /* at most 2^32 */
    /* (h - 1) * stride + row, refused before it could overflow */
    if ((h > 1 && stride > (PTRDIFF_MAX - row) / (h - 1)) || (h - 1) * stride + row > (ptrdiff_t)len) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes is too small for %dx%d", what, len, (int)w, (int)h);
        return -1;
    }
    return 0;
}

/* The arguments warp and remap share, checked (an error set and -1 when one is wrong), and the job
 * filled from them; ``what`` names the kernel in the messages. */
static int setup_job(warp_job *j, const char *what, const Py_buffer *src, int sw, int sh, Py_ssize_t ss, int bpp,
                     int sbpp, int wide, const Py_buffer *dst, int dw, int dh, Py_ssize_t ds, int fill, int interp,
                     const char *cval, Py_ssize_t cval_len)
{
    char src_name[32], dst_name[32];
    snprintf(src_name, sizeof src_name, "%s source", what);
    snprintf(dst_name, sizeof dst_name, "%s output", what);
    if (!(bpp == 1 || bpp == 2 || bpp == 4) || (wide && bpp != 2) || cval_len != bpp) {
        PyErr_Format(PyExc_ValueError, "%s: pixels must have 1, 2 or 4 bytes (16-bit: 2), and so must cval", what);
        return -1;
    }
    if (sbpp != bpp && !(sbpp == 3 && bpp == 4)) {
        PyErr_Format(PyExc_ValueError, "%s: the source has the output's bytes per pixel, or 3 (packed RGB) for 4",
                     what);
        return -1;
    }
    if (fill < FILL_NEAREST || fill > FILL_CONSTANT || (interp != INTERP_NEAREST && interp != INTERP_BILINEAR)) {
        PyErr_Format(PyExc_ValueError, "%s: unknown fill mode or interpolation", what);
        return -1;
    }
    if (check_extent(src_name, src->len, sw, sh, ss, sbpp) || check_extent(dst_name, dst->len, dw, dh, ds, bpp))
        return -1;
    j->src = src->buf;
    j->sw = sw;
    j->sh = sh;
    j->ss = ss;
    j->bpp = bpp;
    j->sbpp = sbpp;
    j->slack = src->len - (Py_ssize_t)((sh - 1) * (ptrdiff_t)ss + (ptrdiff_t)sw * sbpp);
    j->wide = wide;
    j->dst = dst->buf;
    j->dw = dw;
    j->dh = dh;
    j->ds = ds;
    j->fill = fill;
    j->interp = interp;
    memset(j->cval, 0, sizeof j->cval);
    memcpy(j->cval, cval, (size_t)cval_len);
    return 0;
}

static PyObject *py_warp(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src, dst;
    int sw, sh, dw, dh, bpp, wide, fill, interp, sbpp = 0;
    Py_ssize_t ss, ds;
    const char *cval;
    Py_ssize_t cval_len;
    warp_job j;
    if (!PyArg_ParseTuple(args, "y*iinipw*iin(ddddddddd)iiy#|i", &src, &sw, &sh, &ss, &bpp, &wide, &dst, &dw, &dh, &ds,
                          &j.m[0], &j.m[1], &j.m[2], &j.m[3], &j.m[4], &j.m[5], &j.m[6], &j.m[7], &j.m[8], &fill,
                          &interp, &cval, &cval_len, &sbpp))
        return NULL;
    if (!sbpp)
        sbpp = bpp;
    const int bad = setup_job(&j, "warp", &src, sw, sh, ss, bpp, sbpp, wide, &dst, dw, dh, ds, fill, interp, cval,
                              cval_len) != 0;
    if (!bad) {
        j.affine = j.m[6] == 0.0 && j.m[7] == 0.0 && j.m[8] == 1.0;
        const int path = active_path;
        Py_BEGIN_ALLOW_THREADS
        run_warp(&j, path);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

/* remap(src, sw, sh, sstride, bpp, wide, dst, dw, dh, dstride, grid, gw, gh, gshift, fill, interp, cval[, sbpp]):
 * the grid is gw x gh nodes of two little-endian int64 (u, v, 16.16), copied here (aligned, checked) */
static PyObject *py_remap(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer src, dst, grid;
    int sw, sh, dw, dh, bpp, wide, fill, interp, gw, gh, gshift, sbpp = 0;
    Py_ssize_t ss, ds;
    const char *cval;
    Py_ssize_t cval_len;
    warp_job j;
    memset(&j, 0, sizeof j);
    if (!PyArg_ParseTuple(args, "y*iinipw*iiny*iiiiiy#|i", &src, &sw, &sh, &ss, &bpp, &wide, &dst, &dw, &dh, &ds, &grid,
                          &gw, &gh, &gshift, &fill, &interp, &cval, &cval_len, &sbpp))
        return NULL;
    if (!sbpp)
        sbpp = bpp;
    int bad = 1;
    int64_t *nodes = NULL;
    if (setup_job(&j, "remap", &src, sw, sh, ss, bpp, sbpp, wide, &dst, dw, dh, ds, fill, interp, cval, cval_len)) {
        /* the error is set */
    } else if (gshift < 0 || gshift > 8 || gw < ((dw - 1) >> gshift) + 2 || gh < ((dh - 1) >> gshift) + 2 ||
               (int64_t)gw * gh > ((int64_t)1 << 40) / 16 || grid.len != (Py_ssize_t)gw * gh * 16) {
        PyErr_SetString(PyExc_ValueError, "remap: the grid must have a node every 2^gshift pixels (gshift 0..8) "
                                          "past both ends of the output, 16 bytes each");
    } else if (!(nodes = PyMem_Malloc((size_t)grid.len))) {
        PyErr_NoMemory();
    } else {
        const uint8_t *g = grid.buf;
        bad = 0;
        for (Py_ssize_t i = 0; i < 2 * (Py_ssize_t)gw * gh && !bad; i++) {
            uint64_t v = 0;
            for (int b = 7; b >= 0; b--)
                v = (v << 8) | g[8 * i + b];
            nodes[i] = (int64_t)v;
            if (nodes[i] > GRID_LIMIT || nodes[i] < -GRID_LIMIT) {
                PyErr_SetString(PyExc_ValueError, "remap: a grid node lies beyond +-2^29 pixels");
                bad = 1;
            }
        }
    }
    if (!bad) {
        j.grid = nodes;
        j.gw = gw;
        j.gh = gh;
        j.gshift = gshift;
        const int path = active_path;
        Py_BEGIN_ALLOW_THREADS
        run_remap(&j, path);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(nodes);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    PyBuffer_Release(&grid);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

AUGCLI_PATH_FUNCTIONS(active_path)

/* ---------------------------------------------------------------------------------------------- */
/* Pillow's own pixel memory, through its Arrow export (zero copy): a buffer object that keeps the
 * exporting capsule (and so the image memory) alive for as long as it is used. */

struct ArrowArray { /* the Arrow C data interface's array, as the specification defines it */
    int64_t length, null_count, offset, n_buffers, n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

typedef struct {
    PyObject_HEAD PyObject *owner;
    void *ptr;
    Py_ssize_t len;
    int readonly;
} PixelView;

static int pv_getbuffer(PyObject *o, Py_buffer *view, int flags)
{
    PixelView *v = (PixelView *)o;
    return PyBuffer_FillInfo(view, o, v->ptr, v->len, v->readonly, flags);
}

static void pv_dealloc(PyObject *o)
{
    Py_XDECREF(((PixelView *)o)->owner);
    Py_TYPE(o)->tp_free(o);
}

static PyBufferProcs pv_as_buffer = {pv_getbuffer, NULL};

static PyTypeObject PixelViewType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "augcli.kernels._warp.PixelView",
    .tp_basicsize = sizeof(PixelView),
    .tp_dealloc = pv_dealloc,
    .tp_as_buffer = &pv_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The pixel memory of a Pillow image (from its Arrow export).",
};

/* pixel_view(arrow_array_capsule, nbytes, item_size, writable): the data buffer of a primitive
 * array (or of the one child of a fixed-size list), checked to hold at least nbytes. */
static PyObject *py_pixel_view(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *capsule;
    Py_ssize_t nbytes, item;
    int writable;
    if (!PyArg_ParseTuple(args, "Onnp", &capsule, &nbytes, &item, &writable))
        return NULL;
    struct ArrowArray *a = PyCapsule_GetPointer(capsule, "arrow_array");
    if (!a)
        return NULL;
    if (a->n_children == 1 && a->children && a->children[0])
        a = a->children[0];
    if (a->n_buffers < 2 || !a->buffers || !a->buffers[1] || a->offset != 0 || item < 1 || nbytes < 0 ||
        a->length > PY_SSIZE_T_MAX / item || a->length * item < nbytes) {
        PyErr_SetString(PyExc_ValueError, "pixel_view: not a plain pixel buffer of the expected size");
        return NULL;
    }
    PixelView *v = PyObject_New(PixelView, &PixelViewType);
    if (!v)
        return NULL;
    Py_INCREF(capsule);
    v->owner = capsule;
    v->ptr = (void *)a->buffers[1];
    v->len = nbytes;
    v->readonly = !writable;
    return (PyObject *)v;
}

/* pack_rgb(buffer, npx): npx RGBX pixels packed in place to RGB (3 bytes each, from the front; the
 * pad bytes are dropped), then the whole pages after the packed pixels and 8 bytes of slack handed
 * back to the system (Linux: madvise MADV_DONTNEED, so they no longer count in the process's memory
 * and read as zeros if touched again). Returns the number of bytes handed back (0 elsewhere). The
 * buffer must hold exactly 4 npx bytes and stay unused as RGBX afterwards. */
static PyObject *py_pack_rgb(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b;
    Py_ssize_t npx;
    if (!PyArg_ParseTuple(args, "w*n", &b, &npx))
        return NULL;
    if (npx < 1 || npx > PY_SSIZE_T_MAX / 4 || b.len != 4 * npx) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "pack_rgb: the buffer must hold exactly 4 bytes per pixel");
        return NULL;
    }
    uint8_t *p = b.buf;
    Py_ssize_t released = 0;
    Py_BEGIN_ALLOW_THREADS
    /* forwards: pixels are read before the bytes they move to (3 i <= 4 i) are written */
    const int le = (union { uint32_t u; uint8_t b[4]; }){1}.b[0] == 1;
    Py_ssize_t i = 0;
    for (; le && i + 4 <= npx; i += 4) { /* 4 pixels, 16 bytes read, 12 written */
        uint32_t v[4], o[3];
        memcpy(v, p + 4 * i, 16);
        o[0] = (v[0] & 0xFFFFFFu) | (v[1] << 24);
        o[1] = ((v[1] >> 8) & 0xFFFFu) | (v[2] << 16);
        o[2] = ((v[2] >> 16) & 0xFFu) | (v[3] << 8);
        memcpy(p + 3 * i, o, 12);
    }
    for (; i < npx; i++)
        memmove(p + 3 * i, p + 4 * i, 3);
    memset(p + 3 * npx, 0, (size_t)(npx < 8 ? npx : 8)); /* the slack the SIMD reads may touch */
#if defined(__linux__) && defined(MADV_DONTNEED)
    const long page = sysconf(_SC_PAGESIZE);
    if (page > 0) {
        const uintptr_t lo = ((uintptr_t)(p + 3 * npx + 8) + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        const uintptr_t hi = (uintptr_t)(p + 4 * npx) & ~((uintptr_t)page - 1);
        if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0)
            released = (Py_ssize_t)(hi - lo);
    }
#endif
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    return PyLong_FromSsize_t(released);
}

#ifdef AUGCLI_ASAN_SELFTEST
/* `make asan` only: one deliberate heap over-read, to prove the sanitizer is live before trusting a
 * clean run. Never compiled into a normal build. */
static PyObject *py_overread(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    volatile uint8_t *p = malloc(16);
    if (!p)
        return PyErr_NoMemory();
    const int v = p[16];
    free((void *)p);
    return PyLong_FromLong(v);
}
#endif

static PyMethodDef methods[] = {
#ifdef AUGCLI_ASAN_SELFTEST
    {"_overread", py_overread, METH_NOARGS, "ASan self-test: reads one byte past a heap block."},
#endif
    {"warp", py_warp, METH_VARARGS,
     "warp(src, sw, sh, sstride, bpp, wide, dst, dw, dh, dstride, matrix9, fill, interp, cval[, sbpp])"},
    {"remap", py_remap, METH_VARARGS,
     "remap(src, sw, sh, sstride, bpp, wide, dst, dw, dh, dstride, grid, gw, gh, gshift, fill, interp, cval[, sbpp])"},
    {"pack_rgb", py_pack_rgb, METH_VARARGS, "pack_rgb(rgbx_buffer, npx): RGBX packed to RGB in place; bytes released"},
    {"pixel_view", py_pixel_view, METH_VARARGS, "pixel_view(arrow_array_capsule, nbytes, item_size, writable)"},
    {"available", py_available, METH_NOARGS, "The kernel paths this CPU can run, best last."},
    {"set_path", py_set_path, METH_O, "Use the named path (scalar, avx2, avx512)."},
    {"path", py_path, METH_NOARGS, "The active path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_warp", "augcli's warp kernel", -1, methods};

PyMODINIT_FUNC PyInit__warp(void)
{
    if (augcli_check_shifts() < 0)
        return NULL;
    active_path = augcli_best_path();
    if (PyType_Ready(&PixelViewType) < 0)
        return NULL;
    return PyModule_Create(&module);
}
