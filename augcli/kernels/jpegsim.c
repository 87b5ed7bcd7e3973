/* A baseline JPEG round trip without the entropy coder, part of the _pixel module: the pixels
 * Pillow gives for Image.open(save(image, "JPEG", quality=q)) with its defaults, computed directly.
 *
 * Huffman coding is lossless, so the decoded pixels depend only on the lossy stages, which this
 * file reproduces with the integer arithmetic libjpeg-turbo uses (read from its documentation and
 * source for the semantics; the code is our own):
 * - quantisation tables: the two tables of ITU-T T.81 Annex K scaled as jpeg_set_quality(q,
 *   force_baseline) does (scale 5000 / q below 50, else 200 - 2 q percent; (v s + 50) / 100
 *   clamped to 1..255);
 * - RGB -> YCbCr in 16.16 fixed point (JFIF weights, each rounded as FIX(x) = floor(x 2^16 + 0.5);
 *   Y rounded half up, Cb and Cr with a bias of 2^15 - 1 so that they never reach 256);
 * - padding to whole blocks: the last column and row are repeated; for the 4:2:0 chroma the full
 *   resolution planes are repeated to the right (16-pixel multiples) and the last real chroma row
 *   downwards;
 * - h2v2 downsampling: the mean of each 2 x 2 group with a bias of 1, 2, 1, 2 ... along a row, >> 2;
 * - the "islow" forward DCT (Loeffler, Ligtenberg and Moschytz's 12-multiply 8-point DCT with
 *   13-bit constants, the rows first keeping 2 extra bits, then the columns), its output 8 times
 *   the orthonormal DCT;
 * - quantisation: the coefficient divided by 8 q, rounded half away from zero; dequantisation: q
 *   times that;
 * - the "islow" inverse DCT (the same LL&M constants, columns first with 2 extra bits, then rows,
 *   each rounded half up), + 128, clamped to 0..255;
 * - h2v2 "fancy" upsampling (triangle filter: 3/4 of the nearer and 1/4 of the farther chroma
 *   sample in each direction, vertical sums first, then (3 a + b + 8) >> 4 for even and
 *   (3 a + b + 7) >> 4 for odd output columns; neighbours past the edges are the edge samples);
 *   chroma planes of at most 2 samples across are upsampled by repetition instead, as libjpeg-turbo
 *   does;
 * - YCbCr -> RGB in 16.16 fixed point (1.402, 1.772, 0.71414, 0.34414), clamped.
 * Greyscale (L) images are one plane: no colour conversion and no subsampling.
 *
 * Where libjpeg-turbo's own builds can disagree with each other (its SIMD inverse DCT keeps the
 * first pass in 16 bits and clamps the result, its C code wraps results outside -512..511 around),
 * the kernel does not guess: it reports that the image met such a value and the caller lets Pillow
 * make that round trip. No image has met one so far (30,000 binary 0/255 patterns at qualities 1 to
 * 8 included): the first pass stays far inside 16 bits and the results inside -512..511.
 *
 * All integer arithmetic, the same on every path; the scalar build is plain C, jpegsim_simd.c has
 * the AVX2 builds (which the avx512 path runs too) of the block stage, of whole macroblocks and of
 * the conversion back.
 */
#include "jpegsim.h"

#include <stdlib.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the scalar build's 8-lane loops vectorise with the baseline SSE2 */
#endif

/* ---------------------------------------------------------------------------------------------- */
/* quantisation tables */

static const uint8_t LUMA[64] = {
    16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,  14, 13, 16, 24, 40,  57,
    69, 56, 14, 17, 22, 29,  51,  87,  80, 62, 18, 22, 37, 56,  68, 109, 103, 77, 24, 35, 55, 64,
    81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
};
static const uint8_t CHROMA[64] = {
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
    99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
};

/* The divisor d = 8 q of each coefficient as a multiply and a shift: n / d = (n m) >> s for every
 * 0 <= n < 2^14, with l = ceil(log2 d), s = 14 + l, m = floor(2^s / d) + 1 (Granlund and Montgomery
 * 1994, Theorem 4.2: 2^s < m d <= 2^s + 2^l). The numerators stay below 2^14: |DCT output| <= 64 *
 * 128 plus its rounding, and the half divisor is at most 1020; m <= 2^15, so n m < 2^29. */
static void quant_table(const uint8_t *base, int quality, jpeg_table *t)
{
    const int scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
    for (int i = 0; i < 64; i++) {
        int v = (base[i] * scale + 50) / 100;
        v = v < 1 ? 1 : (v > 255 ? 255 : v);
        const int d = 8 * v;
        int l = 0;
        while ((1 << l) < d)
            l++;
        t->q[i] = v;
        t->half[i] = d / 2;
        t->shift[i] = 14 + l;
        t->mul[i] = (int32_t)((((int64_t)1 << (14 + l)) / d) + 1);
        t->q16[i] = (int16_t)v;
        t->half16[i] = (int16_t)(d / 2);
        t->mul16[i] = (uint16_t)t->mul[i];          /* <= 2^15 */
        t->scale16[i] = (uint16_t)(1 << (18 - l)); /* 2^(32 - shift), shift = 14 + l in 17..25 */
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* the block stage, scalar: forward DCT, quantisation, dequantisation, inverse DCT */

AUGCLI_INLINE int32_t descale(int32_t x, int n)
{
    return (x + (1 << (n - 1))) >> n;
}

/* one 8-point forward transform over v[0], v[st], ... v[7 st], in place; rows (first) or columns */
AUGCLI_INLINE void fdct8(int32_t *v, int st, int rows)
{
    const int32_t s07 = v[0] + v[7 * st], d07 = v[0] - v[7 * st], s16 = v[st] + v[6 * st], d16 = v[st] - v[6 * st];
    const int32_t s25 = v[2 * st] + v[5 * st], d25 = v[2 * st] - v[5 * st];
    const int32_t s34 = v[3 * st] + v[4 * st], d34 = v[3 * st] - v[4 * st];
    const int32_t e0 = s07 + s34, e3 = s07 - s34, e1 = s16 + s25, e2 = s16 - s25;
    const int n = rows ? JPEG_CB - JPEG_P1 : JPEG_CB + JPEG_P1;
    v[0] = rows ? (e0 + e1) * (1 << JPEG_P1) : descale(e0 + e1, JPEG_P1);
    v[4 * st] = rows ? (e0 - e1) * (1 << JPEG_P1) : descale(e0 - e1, JPEG_P1);
    const int32_t r = (e2 + e3) * JPEG_F0541;
    v[2 * st] = descale(r + e3 * JPEG_F0765, n);
    v[6 * st] = descale(r - e2 * JPEG_F1847, n);
    const int32_t z5 = (d34 + d16 + d25 + d07) * JPEG_F1175;
    const int32_t z1 = (d34 + d07) * -JPEG_F0899, z2 = (d25 + d16) * -JPEG_F2562;
    const int32_t z3 = (d34 + d16) * -JPEG_F1961 + z5, z4 = (d25 + d07) * -JPEG_F0390 + z5;
    v[7 * st] = descale(d34 * JPEG_F0298 + z1 + z3, n);
    v[5 * st] = descale(d25 * JPEG_F2053 + z2 + z4, n);
    v[3 * st] = descale(d16 * JPEG_F3072 + z2 + z3, n);
    v[st] = descale(d07 * JPEG_F1501 + z1 + z4, n);
}

/* one 8-point inverse transform from in[0], in[ist] ... into out[0], out[ost] ..., descaled by n */
AUGCLI_INLINE void idct8(const int32_t *in, int ist, int32_t *out, int ost, int n)
{
    const int32_t z1 = (in[2 * ist] + in[6 * ist]) * JPEG_F0541;
    const int32_t t2 = z1 - in[6 * ist] * JPEG_F1847, t3 = z1 + in[2 * ist] * JPEG_F0765;
    const int32_t t0 = (in[0] + in[4 * ist]) * (1 << JPEG_CB), t1 = (in[0] - in[4 * ist]) * (1 << JPEG_CB);
    const int32_t e10 = t0 + t3, e13 = t0 - t3, e11 = t1 + t2, e12 = t1 - t2;
    const int32_t a = in[7 * ist], b = in[5 * ist], c = in[3 * ist], d = in[ist];
    const int32_t z5 = (a + c + b + d) * JPEG_F1175;
    const int32_t y1 = (a + d) * -JPEG_F0899, y2 = (b + c) * -JPEG_F2562;
    const int32_t y3 = (a + c) * -JPEG_F1961 + z5, y4 = (b + d) * -JPEG_F0390 + z5;
    const int32_t o0 = a * JPEG_F0298 + y1 + y3, o1 = b * JPEG_F2053 + y2 + y4;
    const int32_t o2 = c * JPEG_F3072 + y2 + y3, o3 = d * JPEG_F1501 + y1 + y4;
    out[0] = descale(e10 + o3, n);
    out[7 * ost] = descale(e10 - o3, n);
    out[ost] = descale(e11 + o2, n);
    out[6 * ost] = descale(e11 - o2, n);
    out[2 * ost] = descale(e12 + o1, n);
    out[5 * ost] = descale(e12 - o1, n);
    out[3 * ost] = descale(e13 + o0, n);
    out[4 * ost] = descale(e13 - o0, n);
}

/* blk: 64 samples (0..255) row-major; out: the 8 x 8 decoded bytes, rows ostride apart. Returns
 * non-zero when a value left the range where every libjpeg-turbo build agrees. */
static int block_scalar(int32_t *blk, const jpeg_table *t, uint8_t *out, ptrdiff_t ostride)
{
    int32_t ws[64];
    int bad = 0;
    for (int i = 0; i < 64; i++)
        blk[i] -= 128;
    for (int r = 0; r < 8; r++)
        fdct8(blk + 8 * r, 1, 1);
    for (int c = 0; c < 8; c++)
        fdct8(blk + c, 8, 0);
    for (int i = 0; i < 64; i++) {
        const int32_t v = blk[i], n = (v < 0 ? -v : v) + t->half[i];
        const int32_t k = (n * t->mul[i]) >> t->shift[i];
        blk[i] = (v < 0 ? -k : k) * t->q[i];
    }
    for (int c = 0; c < 8; c++)
        idct8(blk + c, 8, ws + c, 8, JPEG_CB - JPEG_P1);
    for (int i = 0; i < 64; i++)
        bad |= ws[i] > JPEG_WS_MAX || ws[i] < -JPEG_WS_MAX;
    for (int r = 0; r < 8; r++) {
        int32_t px[8];
        idct8(ws + 8 * r, 1, px, 1, JPEG_CB + JPEG_P1 + 3);
        for (int c = 0; c < 8; c++) {
            const int32_t x = px[c];
            bad |= x > 511 || x < -512;
            out[r * ostride + c] = augcli_u8(x + 128);
        }
    }
    return bad;
}

/* ---------------------------------------------------------------------------------------------- */
/* the image: gather blocks, run the block stage, upsample and convert back */

AUGCLI_INLINE int imin(int a, int b)
{
    return a < b ? a : b;
}

AUGCLI_INLINE int32_t luma(const uint8_t *p)
{
    return (19595 * p[0] + 38470 * p[1] + 7471 * p[2] + 32768) >> 16;
}

AUGCLI_INLINE int32_t chroma_b(const uint8_t *p)
{
    return (-11059 * p[0] - 21709 * p[1] + 32768 * p[2] + (128 << 16) + 32767) >> 16;
}

AUGCLI_INLINE int32_t chroma_r(const uint8_t *p)
{
    return (32768 * p[0] - 27439 * p[1] - 5329 * p[2] + (128 << 16) + 32767) >> 16;
}

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    int w, h, bpp, nc, path;
    jpeg_table tab[2];
    uint8_t *y, *cb, *cr; /* decoded planes (RGB): y ys wide, cb and cr cs wide */
    int ys, cs;
    int32_t *sum;         /* the vertical chroma sums of a row (cb, cr), cw + 2 each (the ends repeated) */
    int bad;
} jpeg_job;

#if AUGCLI_X86
/* Row sy's n pixels from column x0 as the AVX2 builds read them (JPEG_READ8 bytes from each run
 * of 8): in the image where those reads stay inside the row and the buffer, else copied into tmp
 * (n bpp + 32 bytes) with the last column repeated. */
static const uint8_t *simd_row(const jpeg_job *j, int sy, int x0, int n, uint8_t *tmp)
{
    const int w = j->w, bpp = j->bpp;
    const size_t stride = (size_t)w * bpp;
    const uint8_t *row = j->src + (size_t)sy * stride;
    if (x0 + n <= w && (size_t)sy * stride + (size_t)(x0 + n - 8) * bpp + JPEG_READ8(bpp) <= stride * j->h)
        return row + (size_t)x0 * bpp;
    for (int c = 0; c < n; c++)
        memcpy(tmp + c * bpp, row + (size_t)imin(x0 + c, w - 1) * bpp, (size_t)bpp);
    return tmp;
}
#endif

/* the decoded bytes of a block (dec, 16 a row) outside the output's own memory: copied in where they
 * lie inside the image, with the byte past the grey one of a 2-byte pixel kept */
static void put_block(jpeg_job *j, int bx, int by, const uint8_t *dec)
{
    const int w = j->w, bpp = j->bpp;
    for (int r = 0; r < 8 && 8 * by + r < j->h; r++) {
        uint8_t *row = j->dst + (size_t)(8 * by + r) * w * bpp;
        const uint8_t *srow = j->src + (size_t)(8 * by + r) * w * bpp;
        for (int c = 0; c < 8 && 8 * bx + c < w; c++) {
            row[(size_t)(8 * bx + c) * bpp] = dec[16 * r + c];
            if (bpp == 2)
                row[(size_t)(8 * bx + c) * 2 + 1] = srow[(size_t)(8 * bx + c) * 2 + 1];
        }
    }
}

/* greyscale: block by block (the AVX2 build two at a time), straight into the output where the
 * blocks lie inside it */
static void grey(jpeg_job *j)
{
    const int w = j->w, h = j->h, bpp = j->bpp;
    int32_t blk[64];
    uint8_t dec[8 * 16];
    for (int by = 0; 8 * by < h; by++) {
#if AUGCLI_X86
        if (j->path != AUGCLI_SCALAR) {
            for (int bx = 0; 8 * bx < w; bx += 2) {
                const uint8_t *rows[8];
                uint8_t tmp[8][80];
                const int inside = 8 * bx + 16 <= w && 8 * by + 8 <= h;
                for (int r = 0; r < 8; r++)
                    rows[r] = inside ? j->src + ((size_t)(8 * by + r) * w + 8 * bx) * bpp
                                     : simd_row(j, imin(8 * by + r, h - 1), 8 * bx, 16, tmp[r]);
                if (inside && bpp == 1) {
                    uint8_t *out = j->dst + (size_t)8 * by * w + 8 * bx;
                    j->bad |= augcli_jpeg_grey_avx2(rows, bpp, &j->tab[0], out, out + 8, w);
                    continue;
                }
                j->bad |= augcli_jpeg_grey_avx2(rows, bpp, &j->tab[0], dec, dec + 8, 16);
                put_block(j, bx, by, dec);
                if (8 * bx + 8 < w)
                    put_block(j, bx + 1, by, dec + 8);
            }
            continue;
        }
#endif
        for (int bx = 0; 8 * bx < w; bx++) {
            const int inside = 8 * bx + 8 <= w && 8 * by + 8 <= h && bpp == 1;
            for (int r = 0; r < 8; r++) {
                const uint8_t *row = j->src + (size_t)imin(8 * by + r, h - 1) * w * bpp;
                for (int c = 0; c < 8; c++)
                    blk[8 * r + c] = row[(size_t)imin(8 * bx + c, w - 1) * bpp];
            }
            if (inside) {
                j->bad |= block_scalar(blk, &j->tab[0], j->dst + (size_t)8 * by * w + 8 * bx, w);
            } else {
                j->bad |= block_scalar(blk, &j->tab[0], dec, 16);
                put_block(j, bx, by, dec);
            }
        }
    }
}

/* RGB, 4:2:0: each 16 x 16 macroblock's (up to) four luma blocks and two chroma blocks */
static void encode_colour(jpeg_job *j)
{
    const int w = j->w, h = j->h, bpp = j->bpp, ch = (h + 1) / 2;
    const size_t stride = (size_t)w * bpp;
    const int bw = (w + 7) / 8, bh = (h + 7) / 8;
    int32_t blk[64], cbk[64], crk[64];
    for (int my = 0; 16 * my < h; my++) {
        for (int mx = 0; 16 * mx < w; mx++) {
#if AUGCLI_X86
            if (j->path != AUGCLI_SCALAR) {
                /* the rows the luma and the chroma read (the same ones, except below the image) */
                const uint8_t *yrows[16], *crows[16];
                uint8_t tmp[32][96];
                int used = 0, ymask = 0;
                const uint8_t *first = j->src + (size_t)16 * my * stride + (size_t)16 * mx * bpp;
                if (16 * mx + 16 <= w && 16 * my + 16 <= h &&
                    (size_t)(first - j->src) + 15 * stride + (size_t)8 * bpp + JPEG_READ8(bpp) <= stride * h) {
                    for (int r = 0; r < 16; r++) /* inside the image: the common case */
                        yrows[r] = crows[r] = first + (size_t)r * stride;
                    ymask = 15;
                } else {
                    for (int r = 0; r < 16; r++) {
                        yrows[r] = simd_row(j, imin(16 * my + r, h - 1), 16 * mx, 16, tmp[used]);
                        used += yrows[r] == tmp[used];
                    }
                    for (int r = 0; r < 16; r++) {
                        const int k = imin(8 * my + r / 2, ch - 1), sy = imin(2 * k + (r & 1), h - 1);
                        if (sy == imin(16 * my + r, h - 1)) {
                            crows[r] = yrows[r];
                        } else {
                            crows[r] = simd_row(j, sy, 16 * mx, 16, tmp[used]);
                            used += crows[r] == tmp[used];
                        }
                    }
                    for (int k = 0; k < 4; k++)
                        ymask |= (2 * mx + (k & 1) < bw && 2 * my + (k >> 1) < bh) << k;
                }
                const size_t cat = (size_t)8 * my * j->cs + 8 * mx;
                uint8_t *yat = j->y + (size_t)16 * my * j->ys + 16 * mx;
                j->bad |= augcli_jpeg_mcu_avx2(yrows, crows, bpp, j->tab, ymask, yat, j->ys, j->cb + cat, j->cr + cat,
                                               j->cs);
                continue;
            }
#endif
            for (int k = 0; k < 4; k++) {
                const int bx = 2 * mx + (k & 1), by = 2 * my + (k >> 1);
                if (bx >= bw || by >= bh)
                    continue;
                for (int r = 0; r < 8; r++) {
                    const uint8_t *row = j->src + (size_t)imin(8 * by + r, h - 1) * stride;
                    for (int c = 0; c < 8; c++)
                        blk[8 * r + c] = luma(row + (size_t)imin(8 * bx + c, w - 1) * bpp);
                }
                j->bad |= block_scalar(blk, &j->tab[0], j->y + (size_t)8 * by * j->ys + 8 * bx, j->ys);
            }
            for (int r = 0; r < 8; r++) {
                const int k = imin(8 * my + r, ch - 1);
                const uint8_t *r0 = j->src + (size_t)(2 * k) * stride;
                const uint8_t *r1 = j->src + (size_t)imin(2 * k + 1, h - 1) * stride;
                for (int c = 0; c < 8; c++) {
                    const int col = 8 * mx + c, bias = 1 + (col & 1);
                    const size_t c0 = (size_t)imin(2 * col, w - 1) * bpp, c1 = (size_t)imin(2 * col + 1, w - 1) * bpp;
                    const int32_t b4 = chroma_b(r0 + c0) + chroma_b(r0 + c1) + chroma_b(r1 + c0) + chroma_b(r1 + c1);
                    const int32_t r4 = chroma_r(r0 + c0) + chroma_r(r0 + c1) + chroma_r(r1 + c0) + chroma_r(r1 + c1);
                    cbk[8 * r + c] = (b4 + bias) >> 2;
                    crk[8 * r + c] = (r4 + bias) >> 2;
                }
            }
            const size_t at = (size_t)8 * my * j->cs + 8 * mx;
            j->bad |= block_scalar(cbk, &j->tab[1], j->cb + at, j->cs);
            j->bad |= block_scalar(crk, &j->tab[1], j->cr + at, j->cs);
        }
    }
}

/* pixel x of an output row d (its source row s: the byte past the colour of a 4-byte pixel is kept) */
AUGCLI_INLINE void to_rgb(uint8_t *d, const uint8_t *s, int x, int bpp, int32_t y, int32_t cb, int32_t cr)
{
    d += (size_t)x * bpp;
    if (bpp == 4)
        d[3] = s[(size_t)x * 4 + 3];
    cb -= 128;
    cr -= 128;
    d[0] = augcli_u8(y + ((91881 * cr + 32768) >> 16));
    d[1] = augcli_u8(y + ((-22554 * cb - 46802 * cr + 32768) >> 16));
    d[2] = augcli_u8(y + ((116130 * cb + 32768) >> 16));
}

static void decode_colour(jpeg_job *j)
{
    const int w = j->w, h = j->h, bpp = j->bpp, cw = (w + 1) / 2, ch = (h + 1) / 2;
    int32_t *sb = j->sum + 1, *sr = j->sum + cw + 3; /* each with one repeated value at both ends */
    for (int y = 0; y < h; y++) {
        uint8_t *d = j->dst + (size_t)y * w * bpp;
        const uint8_t *s = j->src + (size_t)y * w * bpp, *yr = j->y + (size_t)y * j->ys;
        const int k = y >> 1;
        if (cw <= 2) { /* libjpeg-turbo repeats the samples of so narrow a plane */
            for (int x = 0; x < w; x++) {
                const size_t at = (size_t)k * j->cs + (x >> 1);
                to_rgb(d, s, x, bpp, yr[x], j->cb[at], j->cr[at]);
            }
            continue;
        }
        const int other = (y & 1) ? imin(k + 1, ch - 1) : (k > 0 ? k - 1 : 0);
        const uint8_t *b0 = j->cb + (size_t)k * j->cs, *b1 = j->cb + (size_t)other * j->cs;
        const uint8_t *r0 = j->cr + (size_t)k * j->cs, *r1 = j->cr + (size_t)other * j->cs;
        int c0 = 0;
#if AUGCLI_X86
        if (j->path != AUGCLI_SCALAR) {
            augcli_jpeg_sums_avx2(b0, b1, sb, cw);
            c0 = augcli_jpeg_sums_avx2(r0, r1, sr, cw);
        }
#endif
        for (int c = c0; c < cw; c++) {
            sb[c] = 3 * b0[c] + b1[c];
            sr[c] = 3 * r0[c] + r1[c];
        }
        sb[-1] = sb[0], sb[cw] = sb[cw - 1], sr[-1] = sr[0], sr[cw] = sr[cw - 1];
        int x = 0;
#if AUGCLI_X86
        if (j->path != AUGCLI_SCALAR)
            x = augcli_jpeg_row_avx2(yr, sb, sr, s, d, w, bpp);
#endif
        for (; x < w; x++) {
            const int c = x >> 1, n = (x & 1) ? imin(c + 1, cw - 1) : (c > 0 ? c - 1 : 0), add = (x & 1) ? 7 : 8;
            to_rgb(d, s, x, bpp, yr[x], (3 * sb[c] + sb[n] + add) >> 4, (3 * sr[c] + sr[n] + add) >> 4);
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Python face */

PyObject *augcli_py_jpeg(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    int quality;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiii", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &quality))
        return NULL;
    if (augcli_check_pair("jpeg", &p, 0))
        return NULL;
    if (quality < 1 || quality > 100 || !(p.nc == 1 || (p.nc == 3 && p.bpp >= 3))) {
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "jpeg: a quality of 1 to 100, and 1 (L) or 3 (RGB) colour bands");
        return NULL;
    }
    jpeg_job j;
    memset(&j, 0, sizeof j);
    j.src = p.src.buf;
    j.dst = p.dst.buf;
    j.w = p.w;
    j.h = p.h;
    j.bpp = p.bpp;
    j.nc = p.nc;
    j.path = augcli_pixel_path;
    quant_table(LUMA, quality, &j.tab[0]);
    quant_table(CHROMA, quality, &j.tab[1]);
    uint8_t *scratch = NULL;
    if (p.nc == 3) {
        j.ys = 8 * ((p.w + 7) / 8);
        j.cs = 8 * ((p.w + 15) / 16);
        const size_t yn = (size_t)j.ys * (8 * (size_t)((p.h + 7) / 8));
        const size_t cn = (size_t)j.cs * (8 * (size_t)((p.h + 15) / 16));
        const size_t sn = 2 * (size_t)((p.w + 1) / 2 + 2) * sizeof(int32_t);
        scratch = PyMem_RawMalloc(sn + yn + 2 * cn);
        if (!scratch) {
            augcli_release_pair(&p);
            return PyErr_NoMemory();
        }
        j.sum = (int32_t *)scratch;
        j.y = scratch + sn;
        j.cb = j.y + yn;
        j.cr = j.cb + cn;
    }
    Py_BEGIN_ALLOW_THREADS
    if (p.nc == 1) {
        grey(&j);
    } else {
        encode_colour(&j);
        decode_colour(&j);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(scratch);
    augcli_release_pair(&p);
    return PyBool_FromLong(!j.bad);
}
