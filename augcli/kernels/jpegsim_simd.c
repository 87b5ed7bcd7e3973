/* The JPEG round trip's AVX2 builds (jpegsim.c has the rules and the scalar build; the bytes are the
 * same): the block stage on two blocks at once in 16-bit lanes (libjpeg-turbo's own SIMD layout:
 * the 8 columns, or between the transposes the 8 rows, of each block in one half of a register,
 * products by vpmaddwd; see block16 for the bounds that keep every value exact); the colour
 * conversion and 4:2:0 averaging of whole macroblocks in 32-bit lanes; upsampling and conversion
 * back, 8 chroma samples (16 pixels) at a time. Every lane computes the scalar build's integer. The
 * avx512 path runs these AVX2 builds (on the Zen 4 this was written on, 512-bit registers would
 * run as two halves). */
#include "jpegsim.h"

#if AUGCLI_X86
#include "simd8.h"

typedef __m256i v8;

#define ADD _mm256_add_epi32
#define SUB _mm256_sub_epi32

#define MULC(a, k) _mm256_mullo_epi32((a), _mm256_set1_epi32(k))

/* Two 8 x 8 blocks side by side in 16-bit lanes: register i holds row (or, between transposes,
 * column) i of block A in its low 128 bits and of block B in its high 128 bits. Sums of two values
 * are taken in 16 bits where they stay in range (the bounds below); every product is taken in 32
 * bits by vpmaddwd on pairs of 16-bit values, each 8-point transform's rotations expanded into two
 * products per pair (the distributive law: the same integers as jpegsim.c's fdct8 and idct8), and
 * rounded results packed back to 16 bits. Bounds: samples -128..127; the forward row pass gives at
 * most 4096 in magnitude (the column pass sums of 8 of them fit, -32768..32512), its outputs about
 * 8200; dequantised coefficients at most 1152; the inverse first pass at most JPEG_WS_MAX (checked,
 * larger values make the caller defer to Pillow), so that sums of two of them fit. */

typedef struct {
    v8 lo, hi; /* 32-bit values of the 16-bit lanes 0..3 and 4..7 of each half */
} w32;

/* the pairs (x, y) of two 16-bit registers, to be multiplied by a pair of constants */
typedef struct {
    v8 lo, hi;
} pairs;

AUGCLI_AVX2_INLINE pairs pair(v8 x, v8 y)
{
    return (pairs){_mm256_unpacklo_epi16(x, y), _mm256_unpackhi_epi16(x, y)};
}

/* x kx + y ky in 32 bits */
AUGCLI_AVX2_INLINE w32 madd(pairs p, int kx, int ky)
{
    const v8 k = _mm256_set1_epi32((int)(((uint32_t)(uint16_t)ky << 16) | (uint16_t)kx));
    return (w32){_mm256_madd_epi16(p.lo, k), _mm256_madd_epi16(p.hi, k)};
}

AUGCLI_AVX2_INLINE w32 wadd(w32 a, w32 b)
{
    return (w32){ADD(a.lo, b.lo), ADD(a.hi, b.hi)};
}

AUGCLI_AVX2_INLINE w32 wsub(w32 a, w32 b)
{
    return (w32){SUB(a.lo, b.lo), SUB(a.hi, b.hi)};
}

/* x 2^13 in 32 bits, for 16-bit x */
AUGCLI_AVX2_INLINE w32 widen13(v8 x)
{
    const v8 zero = _mm256_setzero_si256();
    return (w32){_mm256_srai_epi32(_mm256_unpacklo_epi16(zero, x), 16 - JPEG_CB),
                 _mm256_srai_epi32(_mm256_unpackhi_epi16(zero, x), 16 - JPEG_CB)};
}

/* (x + 2^(n-1)) >> n, packed to 16 bits (saturating) */
AUGCLI_AVX2_INLINE v8 descale16(w32 x, int n)
{
    const v8 half = _mm256_set1_epi32(1 << (n - 1));
    return _mm256_packs_epi32(_mm256_srai_epi32(ADD(x.lo, half), n),
                              _mm256_srai_epi32(ADD(x.hi, half), n));
}

/* 8 x 8 transposes of 16-bit values within each 128-bit half */
AUGCLI_AVX2_INLINE void transpose16(v8 *r)
{
    const v8 t0 = _mm256_unpacklo_epi16(r[0], r[1]), t1 = _mm256_unpackhi_epi16(r[0], r[1]);
    const v8 t2 = _mm256_unpacklo_epi16(r[2], r[3]), t3 = _mm256_unpackhi_epi16(r[2], r[3]);
    const v8 t4 = _mm256_unpacklo_epi16(r[4], r[5]), t5 = _mm256_unpackhi_epi16(r[4], r[5]);
    const v8 t6 = _mm256_unpacklo_epi16(r[6], r[7]), t7 = _mm256_unpackhi_epi16(r[6], r[7]);
    const v8 u0 = _mm256_unpacklo_epi32(t0, t2), u1 = _mm256_unpackhi_epi32(t0, t2);
    const v8 u2 = _mm256_unpacklo_epi32(t1, t3), u3 = _mm256_unpackhi_epi32(t1, t3);
    const v8 u4 = _mm256_unpacklo_epi32(t4, t6), u5 = _mm256_unpackhi_epi32(t4, t6);
    const v8 u6 = _mm256_unpacklo_epi32(t5, t7), u7 = _mm256_unpackhi_epi32(t5, t7);
    r[0] = _mm256_unpacklo_epi64(u0, u4);
    r[1] = _mm256_unpackhi_epi64(u0, u4);
    r[2] = _mm256_unpacklo_epi64(u1, u5);
    r[3] = _mm256_unpackhi_epi64(u1, u5);
    r[4] = _mm256_unpacklo_epi64(u2, u6);
    r[5] = _mm256_unpackhi_epi64(u2, u6);
    r[6] = _mm256_unpacklo_epi64(u3, u7);
    r[7] = _mm256_unpackhi_epi64(u3, u7);
}

/* The odd part shared by both transforms: with z5 = (a + b + c + d) F1175, the four outputs
 *   a F0298 - (a + d) F0899 - (a + c) F1961 + z5,   b F2053 - (b + c) F2562 - (b + d) F0390 + z5,
 *   c F3072 - (b + c) F2562 - (a + c) F1961 + z5,   d F1501 - (a + d) F0899 - (b + d) F0390 + z5
 * (jpegsim.c), each expanded into a ka + b kb + c kc + d kd. */
AUGCLI_AVX2_INLINE void odd4(v8 a, v8 b, v8 c, v8 d, w32 *o)
{
    const pairs ac = pair(a, c), bd = pair(b, d);
    o[0] = wadd(madd(ac, -11363, -6436), madd(bd, 9633, 2260));
    o[1] = wadd(madd(ac, 9633, -11362), madd(bd, 2261, 6437));
    o[2] = wadd(madd(ac, -6436, -2259), madd(bd, -11362, 9633));
    o[3] = wadd(madd(ac, 2260, 9633), madd(bd, 6437, 11363));
}

/* jpegsim.c fdct8 across the 8 registers (rows: the first pass) */
AUGCLI_AVX2_INLINE void fdct16(v8 *v, int rows)
{
    const v8 s07 = _mm256_add_epi16(v[0], v[7]), d07 = _mm256_sub_epi16(v[0], v[7]);
    const v8 s16 = _mm256_add_epi16(v[1], v[6]), d16 = _mm256_sub_epi16(v[1], v[6]);
    const v8 s25 = _mm256_add_epi16(v[2], v[5]), d25 = _mm256_sub_epi16(v[2], v[5]);
    const v8 s34 = _mm256_add_epi16(v[3], v[4]), d34 = _mm256_sub_epi16(v[3], v[4]);
    const v8 e0 = _mm256_add_epi16(s07, s34), e3 = _mm256_sub_epi16(s07, s34);
    const v8 e1 = _mm256_add_epi16(s16, s25), e2 = _mm256_sub_epi16(s16, s25);
    const int n = rows ? JPEG_CB - JPEG_P1 : JPEG_CB + JPEG_P1;
    if (rows) {
        v[0] = _mm256_slli_epi16(_mm256_add_epi16(e0, e1), JPEG_P1);
        v[4] = _mm256_slli_epi16(_mm256_sub_epi16(e0, e1), JPEG_P1);
    } else {
        const v8 two = _mm256_set1_epi16(1 << (JPEG_P1 - 1));
        v[0] = _mm256_srai_epi16(_mm256_add_epi16(_mm256_add_epi16(e0, e1), two), JPEG_P1);
        v[4] = _mm256_srai_epi16(_mm256_add_epi16(_mm256_sub_epi16(e0, e1), two), JPEG_P1);
    }
    const pairs e32 = pair(e3, e2); /* (e2 + e3) F0541 + e3 F0765, (e2 + e3) F0541 - e2 F1847 */
    v[2] = descale16(madd(e32, JPEG_F0541 + JPEG_F0765, JPEG_F0541), n);
    v[6] = descale16(madd(e32, JPEG_F0541, JPEG_F0541 - JPEG_F1847), n);
    w32 o[4];
    odd4(d34, d25, d16, d07, o);
    v[7] = descale16(o[0], n);
    v[5] = descale16(o[1], n);
    v[3] = descale16(o[2], n);
    v[1] = descale16(o[3], n);
}

/* jpegsim.c idct8 across the 8 registers, descaled by n */
AUGCLI_AVX2_INLINE void idct16(v8 *v, int n)
{
    const pairs e26 = pair(v[2], v[6]); /* (v2 + v6) F0541 + v2 F0765, (v2 + v6) F0541 - v6 F1847 */
    const w32 t3 = madd(e26, JPEG_F0541 + JPEG_F0765, JPEG_F0541), t2 = madd(e26, JPEG_F0541, JPEG_F0541 - JPEG_F1847);
    const w32 t0 = widen13(_mm256_add_epi16(v[0], v[4])), t1 = widen13(_mm256_sub_epi16(v[0], v[4]));
    const w32 e10 = wadd(t0, t3), e13 = wsub(t0, t3), e11 = wadd(t1, t2), e12 = wsub(t1, t2);
    w32 o[4];
    odd4(v[7], v[5], v[3], v[1], o);
    v[0] = descale16(wadd(e10, o[3]), n);
    v[7] = descale16(wsub(e10, o[3]), n);
    v[1] = descale16(wadd(e11, o[2]), n);
    v[6] = descale16(wsub(e11, o[2]), n);
    v[2] = descale16(wadd(e12, o[1]), n);
    v[5] = descale16(wsub(e12, o[1]), n);
    v[3] = descale16(wadd(e13, o[0]), n);
    v[4] = descale16(wsub(e13, o[0]), n);
}

AUGCLI_AVX2_INLINE v8 row16(const void *p)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
}

/* the bits of a 16-bit register outside lo..hi */
AUGCLI_AVX2_INLINE v8 outside(v8 x, int lo, int hi)
{
    return _mm256_or_si256(_mm256_cmpgt_epi16(x, _mm256_set1_epi16((short)hi)),
                           _mm256_cmpgt_epi16(_mm256_set1_epi16((short)lo), x));
}

/* The block stage of two blocks (r[i]: row i of A and of B, samples 0..255, one table); the
 * decoded rows go to a and b, rows astride and bstride apart (b == a + 8 with equal strides: one
 * 16-byte store a row). Returns
 * non-zero when a value left the range where libjpeg-turbo's builds agree. */
AUGCLI_AVX2_INLINE int block16(v8 *r, const jpeg_table *t, uint8_t *a, ptrdiff_t astride, uint8_t *b,
                               ptrdiff_t bstride)
{
    const v8 centre = _mm256_set1_epi16(128);
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_sub_epi16(r[i], centre);
    transpose16(r);
    fdct16(r, 1);
    transpose16(r);
    fdct16(r, 0);
    v8 ac = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) { /* n / 8q as (n m >> 16) 2^(32 - s) >> 16 (jpegsim.c quant_table) */
        const v8 n = _mm256_add_epi16(_mm256_abs_epi16(r[i]), row16(t->half16 + 8 * i));
        const v8 k = _mm256_mulhi_epu16(_mm256_mulhi_epu16(n, row16(t->mul16 + 8 * i)), row16(t->scale16 + 8 * i));
        r[i] = _mm256_mullo_epi16(_mm256_sign_epi16(k, r[i]), row16(t->q16 + 8 * i));
        if (i)
            ac = _mm256_or_si256(ac, r[i]);
    }
    if (_mm256_testz_si256(ac, ac)) { /* no AC terms down any column: the first pass is dc 4 */
        const v8 dc = _mm256_slli_epi16(r[0], JPEG_P1);
        for (int i = 0; i < 8; i++)
            r[i] = dc;
    } else {
        idct16(r, JPEG_CB - JPEG_P1);
    }
    v8 over = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++)
        over = _mm256_or_si256(over, outside(r[i], -JPEG_WS_MAX, JPEG_WS_MAX));
    transpose16(r);
    idct16(r, JPEG_CB + JPEG_P1 + 3);
    for (int i = 0; i < 8; i++) {
        over = _mm256_or_si256(over, outside(r[i], -512, 511));
        r[i] = _mm256_add_epi16(r[i], centre);
    }
    transpose16(r);
    for (int i = 0; i < 8; i += 2) {
        const v8 bytes = _mm256_packus_epi16(r[i], r[i + 1]); /* A i, A i+1 | B i, B i+1 */
        if (b == a + 8 && astride == bstride) {
            const v8 rows = _mm256_permute4x64_epi64(bytes, 0xD8);
            _mm_storeu_si128((__m128i *)(a + i * astride), _mm256_castsi256_si128(rows));
            _mm_storeu_si128((__m128i *)(a + (i + 1) * astride), _mm256_extracti128_si256(rows, 1));
        } else {
            const __m128i lo = _mm256_castsi256_si128(bytes), hi = _mm256_extracti128_si256(bytes, 1);
            _mm_storel_epi64((__m128i *)(a + i * astride), lo);
            _mm_storel_epi64((__m128i *)(a + (i + 1) * astride), _mm_unpackhi_epi64(lo, lo));
            _mm_storel_epi64((__m128i *)(b + i * bstride), hi);
            _mm_storel_epi64((__m128i *)(b + (i + 1) * bstride), _mm_unpackhi_epi64(hi, hi));
        }
    }
    return !_mm256_testz_si256(over, over);
}

/* two int32 rows of 8 as one 16-bit register (a low, b high) */
AUGCLI_AVX2_INLINE v8 narrow(v8 a, v8 b)
{
    return _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
}

/* Y of 8 pixels (load8 lanes: R, G, B in bytes 0, 1, 2) */
AUGCLI_AVX2_INLINE v8 luma8(v8 px)
{
    const v8 byte = _mm256_set1_epi32(255);
    const v8 r = _mm256_and_si256(px, byte), g = _mm256_and_si256(_mm256_srli_epi32(px, 8), byte);
    const v8 b = _mm256_and_si256(_mm256_srli_epi32(px, 16), byte);
    const v8 sum = ADD(ADD(MULC(r, 19595), MULC(g, 38470)), ADD(MULC(b, 7471), _mm256_set1_epi32(32768)));
    return _mm256_srli_epi32(sum, 16);
}

/* Cb and Cr of 8 pixels */
AUGCLI_AVX2_INLINE void chroma8(v8 px, v8 *cb, v8 *cr)
{
    const v8 byte = _mm256_set1_epi32(255), off = _mm256_set1_epi32((128 << 16) + 32767);
    const v8 r = _mm256_and_si256(px, byte), g = _mm256_and_si256(_mm256_srli_epi32(px, 8), byte);
    const v8 b = _mm256_and_si256(_mm256_srli_epi32(px, 16), byte);
    *cb = _mm256_srai_epi32(ADD(SUB(_mm256_slli_epi32(b, 15), ADD(MULC(r, 11059), MULC(g, 21709))), off), 16);
    *cr = _mm256_srai_epi32(ADD(SUB(_mm256_slli_epi32(r, 15), ADD(MULC(g, 27439), MULC(b, 5329))), off), 16);
}

/* the 2 x 2 means of two rows of 16 chroma values (a: pixels 0..7, b: 8..15, each the sum of the
 * two rows), biased 1, 2, 1, 2 ..., as 8 samples */
AUGCLI_AVX2_INLINE v8 down8(v8 a, v8 b)
{
    const v8 pairs = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a, b), 0xD8);
    return _mm256_srai_epi32(ADD(pairs, _mm256_setr_epi32(1, 2, 1, 2, 1, 2, 1, 2)), 2);
}

AUGCLI_TARGET_AVX2 int augcli_jpeg_mcu_avx2(const uint8_t *const *yrows, const uint8_t *const *crows, int bpp,
                                            const jpeg_table *tab, int ymask, uint8_t *y, ptrdiff_t ys, uint8_t *cb,
                                            uint8_t *cr, ptrdiff_t cs)
{
    v8 yb[2][8], cc[8]; /* luma: the top and the bottom pair of blocks; chroma: Cb and Cr */
    v8 cb0 = _mm256_setzero_si256(), cb1 = cb0, cr0 = cb0, cr1 = cb0;
    for (int r = 0; r < 16; r++) {
        v8 pa = augcli_load8(yrows[r], bpp), pb = augcli_load8(yrows[r] + 8 * bpp, bpp);
        yb[r >> 3][r & 7] = narrow(luma8(pa), luma8(pb));
        if (crows[r] != yrows[r]) {
            pa = augcli_load8(crows[r], bpp);
            pb = augcli_load8(crows[r] + 8 * bpp, bpp);
        }
        v8 ca, cbb, ra, rb;
        chroma8(pa, &ca, &ra);
        chroma8(pb, &cbb, &rb);
        if (r & 1)
            cc[r >> 1] = narrow(down8(ADD(cb0, ca), ADD(cb1, cbb)),
                                down8(ADD(cr0, ra), ADD(cr1, rb)));
        else
            cb0 = ca, cb1 = cbb, cr0 = ra, cr1 = rb;
    }
    int bad = 0;
    uint8_t junk[8 * 8];
    for (int k = 0; k < 2; k++) {
        if (ymask >> (2 * k) & 1) {
            uint8_t *left = y + (ptrdiff_t)8 * k * ys;
            const int right = ymask >> (2 * k + 1) & 1;
            bad |= block16(yb[k], &tab[0], left, ys, right ? left + 8 : junk, right ? ys : 8);
        }
    }
    bad |= block16(cc, &tab[1], cb, cs, cr, cs);
    return bad;
}

AUGCLI_TARGET_AVX2 int augcli_jpeg_grey_avx2(const uint8_t *const *rows, int bpp, const jpeg_table *t, uint8_t *a,
                                             uint8_t *b, ptrdiff_t ostride)
{
    v8 r[8];
    for (int i = 0; i < 8; i++) {
        const uint8_t *p = rows[i];
        r[i] = bpp == 1 ? _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p))
                        : _mm256_and_si256(_mm256_loadu_si256((const __m256i *)p), _mm256_set1_epi16(255));
    }
    return block16(r, t, a, ostride, b, ostride);
}

/* sum[c] = 3 near[c] + far[c] (the vertical half of the upsampling) for c below n, 8 at a time;
 * returns how many it wrote */
AUGCLI_TARGET_AVX2 int augcli_jpeg_sums_avx2(const uint8_t *near, const uint8_t *far, int32_t *sum, int n)
{
    int c = 0;
    for (; c + 8 <= n; c += 8) {
        const v8 a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(near + c)));
        const v8 b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(far + c)));
        _mm256_storeu_si256((__m256i *)(sum + c), ADD(MULC(a, 3), b));
    }
    return c;
}

/* One output row of RGB from its luma row and the vertical chroma sums (sb, sr: index -1 .. cw,
 * the ends repeated), 16 pixels at a time while they lie inside the row; returns how many pixels
 * it wrote (the caller does the rest). The bytes past the colour of a 4-byte pixel are copied from s. */
AUGCLI_TARGET_AVX2 int augcli_jpeg_row_avx2(const uint8_t *yr, const int32_t *sb, const int32_t *sr, const uint8_t *s,
                                            uint8_t *d, int w, int bpp)
{
    const v8 eight = _mm256_set1_epi32(8), seven = _mm256_set1_epi32(7), centre = _mm256_set1_epi32(128);
    const v8 half = _mm256_set1_epi32(32768), zero = _mm256_setzero_si256(), byte = _mm256_set1_epi32(255);
    int x = 0;
    for (; x + 16 <= w; x += 16) {
        const int c = x >> 1;
        v8 up[2][2]; /* [cb, cr][pixels 0..7, 8..15] */
        for (int k = 0; k < 2; k++) {
            const int32_t *sum = k ? sr : sb;
            const v8 mid = MULC(_mm256_loadu_si256((const __m256i *)(sum + c)), 3);
            const v8 left = _mm256_loadu_si256((const __m256i *)(sum + c - 1));
            const v8 right = _mm256_loadu_si256((const __m256i *)(sum + c + 1));
            const v8 even = _mm256_srai_epi32(ADD(ADD(mid, left), eight), 4);
            const v8 odd = _mm256_srai_epi32(ADD(ADD(mid, right), seven), 4);
            const v8 lo = _mm256_unpacklo_epi32(even, odd), hi = _mm256_unpackhi_epi32(even, odd);
            up[k][0] = SUB(_mm256_permute2x128_si256(lo, hi, 0x20), centre);
            up[k][1] = SUB(_mm256_permute2x128_si256(lo, hi, 0x31), centre);
        }
        for (int h = 0; h < 2; h++) {
            const v8 yv = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(yr + x + 8 * h)));
            const v8 cbv = up[0][h], crv = up[1][h];
            const v8 rr = ADD(yv, _mm256_srai_epi32(ADD(MULC(crv, 91881), half), 16));
            const v8 gg = ADD(yv, _mm256_srai_epi32(ADD(ADD(MULC(cbv, -22554), MULC(crv, -46802)), half), 16));
            const v8 bb = ADD(yv, _mm256_srai_epi32(ADD(MULC(cbv, 116130), half), 16));
            v8 px = _mm256_min_epi32(_mm256_max_epi32(rr, zero), byte);
            px = _mm256_or_si256(px, _mm256_slli_epi32(_mm256_min_epi32(_mm256_max_epi32(gg, zero), byte), 8));
            px = _mm256_or_si256(px, _mm256_slli_epi32(_mm256_min_epi32(_mm256_max_epi32(bb, zero), byte), 16));
            uint8_t *o = d + (size_t)(x + 8 * h) * bpp;
            if (bpp == 4) {
                const v8 extra = _mm256_loadu_si256((const __m256i *)(s + (size_t)(x + 8 * h) * 4));
                const v8 pad = _mm256_and_si256(extra, _mm256_set1_epi32((int)0xFF000000u));
            _mm256_storeu_si256((__m256i *)o, _mm256_or_si256(px, pad));
            } else {
                augcli_store8(o, px, 3);
            }
        }
    }
    return x;
}
#endif
