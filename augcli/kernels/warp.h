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
 * The caller (augcli.kernels) checks the buffers; warp.c checks them again before touching one.
 *
 * The files of the _warp module: warp.h (this: the job, the helpers every path uses, the row
 * functions' declarations), warp_scalar.c (the scalar rows, the row selection, the warp and remap
 * drivers), warp_simd.h (the x86 helpers the AVX2 and AVX-512 rows share), warp_avx2.c and
 * warp_avx512.c (the SIMD rows), warp.c (the Python module).
 */
#ifndef AUGCLI_KERNELS_WARP_H
#define AUGCLI_KERNELS_WARP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "common.h"

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

/* Per-pixel coordinates of a row segment (rows that are not stepped exactly: projective ones, and
 * affine ones reaching beyond +-2^29 px), split as the SIMD rows read them, with their range. */
typedef struct {
    int32_t uh[TILE_COLS], vh[TILE_COLS];
    uint32_t ul[TILE_COLS], vl[TILE_COLS];
    int64_t umin, umax, vmin, vmax; /* integer parts */
} coords;

typedef void (*fill_fn)(const warp_job *, int32_t, int32_t, int32_t, coords *);
typedef void (*rowc_fn)(const warp_job *, const coords *, int32_t, uint8_t *);

#define GRID_LIMIT ((int64_t)1 << 45) /* +-2^29 px in 16.16: blends of 4^8 weights stay in int64 */

/* The remap's cells along one row segment, for the SIMD rows that make each block's coordinates in
 * registers. A pixel fx into cell c has t = floor((P + D fx) / 4^s) (16.16, the remap's integer:
 * P = S A + 4^s / 2 and D = B - A, A and B the cell's left and right nodes blended down the rows);
 * with P = 4^s pq + pr and D = 4^s dq + dr (0 <= pr, dr < 4^s) that is
 * pq + dq fx + ((pr + dr fx) >> 2s), whose last sum stays below 2^24, so when every t of the
 * segment fits int32 (grid_cells says) the rows compute it exactly in 32-bit lanes (pq and dq
 * wrapped: only the sum's low 32 bits matter). [0] is u, [1] v; CELL_PAD entries past the last
 * cell are zero, so a block may load 16 entries from any of its cells. */
#define CELL_PAD 16
typedef struct {
    int32_t pq[2][TILE_COLS + CELL_PAD], pr[2][TILE_COLS + CELL_PAD], dq[2][TILE_COLS + CELL_PAD],
        dr[2][TILE_COLS + CELL_PAD];
    int32_t c0; /* the segment's first cell */
} cells;

typedef void (*rowg_fn)(const warp_job *, const cells *, int32_t, int32_t, uint8_t *);

/* the bilinear rounding offset of 32.32 coordinates (rounding_offset) */
#define BILINEAR_OFS 0x8000

/* Defined in warp_scalar.c. */
void row4_scalar(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n, uint8_t *out);
void fill_coords_from(const warp_job *j, int32_t y, int32_t xa, int32_t i0, int32_t n, coords *k);
void rowc_scalar(const warp_job *j, const coords *k, int32_t i, int32_t n, uint8_t *out);
void cells_tail(const warp_job *j, const cells *g, int32_t xa, int32_t i, int32_t n, coords *k);
void run_warp(const warp_job *j, int path);
void run_remap(const warp_job *j, int path);

#if AUGCLI_X86
/* Defined in warp_avx2.c. */
void row4_avx2(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n, uint8_t *out);
void fill_coords_avx2(const warp_job *j, int32_t y, int32_t xa, int32_t n, coords *k);
void rowc_avx2(const warp_job *j, const coords *k, int32_t n, uint8_t *out);
void rowg_avx2(const warp_job *j, const cells *g, int32_t xa, int32_t n, uint8_t *out);
/* Defined in warp_avx512.c. */
void row4_avx512(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n, uint8_t *out);
void fill_coords_avx512(const warp_job *j, int32_t y, int32_t xa, int32_t n, coords *k);
void rowc_avx512(const warp_job *j, const coords *k, int32_t n, uint8_t *out);
void rowg_avx512(const warp_job *j, const cells *g, int32_t xa, int32_t n, uint8_t *out);
#endif

#endif
