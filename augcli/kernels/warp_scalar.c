/* The warp's scalar rows (the definition every path reproduces), the choice of rows for a warp
 * (kernels_for), and the drivers of the warp (run_warp) and the remap (run_remap). See warp.h.
 */
#include "warp.h"

#include <math.h>

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

void row4_scalar(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n, uint8_t *out)
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

/* the coordinates of pixels i0..n-1 of the segment (and their ranges, which start afresh) */
void fill_coords_from(const warp_job *j, int32_t y, int32_t xa, int32_t i0, int32_t n, coords *k)
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

static inline int64_t joined(int32_t hi, uint32_t lo)
{
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo);
}

/* pixels i..n-1 of a segment from its coordinates, one at a time (any layout and filter) */
void rowc_scalar(const warp_job *j, const coords *k, int32_t i, int32_t n, uint8_t *out)
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
    rowg_fn rowg;           /* or NULL: the remap's rows, which make their coordinates in registers */
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
                     simd ? rowc4_scalar : rowc_scalar_all, simd ? rowc4_scalar : rowc_scalar_all, fill_coords_scalar,
                     NULL, 0};
#if AUGCLI_X86
    if (path == AUGCLI_AVX512) {
        k.fill = fill_coords_avx512;
        if (simd)
            k.row = row4_avx512, k.rowc = rowc_avx512, k.rowg = rowg_avx512, k.one_fold = 1;
    } else if (path == AUGCLI_AVX2) {
        k.fill = fill_coords_avx2;
        if (simd)
            k.row = row4_avx2, k.rowc = rowc_avx2, k.rowg = rowg_avx2, k.one_fold = 1;
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

void run_warp(const warp_job *j, int path)
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

/* The cells of row y's segment xa..xa + n - 1 (see warp.h); 0 when some t of the segment may not
 * fit int32, from a bound of the blends: t lies between floor(min A / S) and
 * floor(max A / S + 1/2) over the segment's nodes blended down the rows, A. */
static inline __attribute__((always_inline)) int grid_cells(const warp_job *j, int32_t y, int32_t xa, int32_t n,
                                                            cells *g)
{
    const int s = j->gshift;
    const int64_t S = (int64_t)1 << s, half = (int64_t)1 << (2 * s) >> 1, low = ((int64_t)1 << (2 * s)) - 1;
    const int64_t fy = y & (S - 1);
    const int32_t c0 = xa >> s, nc = ((xa + n - 1) >> s) - c0 + 1;
    const int64_t *r0 = j->grid + 2 * ((ptrdiff_t)(y >> s) * j->gw + c0), *r1 = r0 + 2 * (ptrdiff_t)j->gw;
    int64_t a[2][TILE_COLS + 1], lo = INT64_MAX, hi = INT64_MIN;
    for (int32_t c = 0; c <= nc; c++) {
        for (int e = 0; e < 2; e++) {
            const int64_t v = r0[2 * c + e] * (S - fy) + r1[2 * c + e] * fy;
            a[e][c] = v;
            lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
    }
    for (int e = 0; e < 2; e++) {
        for (int32_t c = 0; c < nc; c++) {
            const int64_t p = a[e][c] * S + half, d = a[e][c + 1] - a[e][c];
            g->pq[e][c] = (int32_t)(uint32_t)(uint64_t)(p >> (2 * s)), g->pr[e][c] = (int32_t)(p & low);
            g->dq[e][c] = (int32_t)(uint32_t)(uint64_t)(d >> (2 * s)), g->dr[e][c] = (int32_t)(d & low);
        }
        memset(g->pq[e] + nc, 0, CELL_PAD * sizeof(int32_t)), memset(g->pr[e] + nc, 0, CELL_PAD * sizeof(int32_t));
        memset(g->dq[e] + nc, 0, CELL_PAD * sizeof(int32_t)), memset(g->dr[e] + nc, 0, CELL_PAD * sizeof(int32_t));
    }
    g->c0 = c0;
    return (lo >> s) >= INT32_MIN && (hi + (S >> 1)) >> s <= INT32_MAX;
}

#if AUGCLI_X86
typedef int (*cells_fn)(const warp_job *, int32_t, int32_t, int32_t, cells *);

AUGCLI_VECTORISE __attribute__((target("avx2"))) static int grid_cells_avx2(const warp_job *j, int32_t y, int32_t xa,
                                                                             int32_t n, cells *g)
{
    return grid_cells(j, y, xa, n, g);
}

AUGCLI_VECTORISE __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2"))) static int
grid_cells_avx512(const warp_job *j, int32_t y, int32_t xa, int32_t n, cells *g)
{
    return grid_cells(j, y, xa, n, g);
}
#endif

/* the coordinates of pixels i..n-1 of a segment from its cells (as the SIMD rows make them), at 0.. */
void cells_tail(const warp_job *j, const cells *g, int32_t xa, int32_t i, int32_t n, coords *k)
{
    const int s = j->gshift;
    for (int32_t q = 0; i < n; i++, q++) {
        const int32_t x = xa + i, c = (x >> s) - g->c0;
        const uint32_t fx = (uint32_t)x & (((uint32_t)1 << s) - 1);
        uint32_t t[2];
        for (int e = 0; e < 2; e++)
            t[e] = (uint32_t)g->pq[e][c] + (uint32_t)g->dq[e][c] * fx +
                   (((uint32_t)g->pr[e][c] + (uint32_t)g->dr[e][c] * fx) >> (2 * s));
        k->uh[q] = (int32_t)t[0] >> 16, k->ul[q] = (t[0] << 16) | BILINEAR_OFS;
        k->vh[q] = (int32_t)t[1] >> 16, k->vl[q] = (t[1] << 16) | BILINEAR_OFS;
    }
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

void run_remap(const warp_job *j, int path)
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
#if AUGCLI_X86
    cells cs, *g = &cs;
    const cells_fn make_cells = path == AUGCLI_AVX512 ? grid_cells_avx512 : grid_cells_avx2; /* (rowg: SIMD paths) */
#endif
    for (int32_t ty = 0; ty < j->dh; ty += TILE_ROWS) {
        const int32_t ty1 = j->dh - ty < TILE_ROWS ? j->dh : ty + TILE_ROWS;
        for (int32_t tx = 0; tx < j->dw; tx += TILE_COLS) {
            const int32_t tx1 = j->dw - tx < TILE_COLS ? j->dw : tx + TILE_COLS;
            for (int32_t y = ty; y < ty1; y++) {
                const int32_t n = tx1 - tx;
#if AUGCLI_X86
                if (rk.rowg && make_cells(j, y, tx, n, g)) { /* the SIMD rows check the fold block by block */
                    rk.rowg(j, g, tx, n, j->dst + (ptrdiff_t)y * j->ds + (ptrdiff_t)tx * j->bpp);
                    continue;
                }
#endif
                fill(j, y, tx, n, &k);
                const int folds = any_fold || (k.umin >= -(int64_t)j->sw && k.umax + 1 <= 2 * (int64_t)j->sw - 1 &&
                                               k.vmin >= -(int64_t)j->sh && k.vmax + 1 <= 2 * (int64_t)j->sh - 1);
                (folds ? rk.rowc : rk.rowc_any)(j, &k, n, j->dst + (ptrdiff_t)y * j->ds + (ptrdiff_t)tx * j->bpp);
            }
        }
    }
}
