/* The JPEG round trip's AVX2 builds (jpegsim.c has the rules and the scalar build; the bytes are the
 * same): the block stage with the 8 columns (or, between the transposes, the 8 rows) of a block in
 * the 8 int32 lanes of a register, so each 8-point transform is the scalar one applied to 8 lanes at
 * once; the colour conversion and 4:2:0 averaging of whole macroblocks; upsampling and conversion
 * back, 8 chroma samples (16 pixels) at a time. The integer operations are exactly the scalar ones
 * (32-bit lanes, no value near overflow), so every lane computes the scalar build's integer. */
#include "jpegsim.h"

#if AUGCLI_X86
#include "simd8.h"

typedef __m256i v8;

#define ADD _mm256_add_epi32
#define SUB _mm256_sub_epi32
#define MULC(a, k) _mm256_mullo_epi32((a), _mm256_set1_epi32(k))

AUGCLI_AVX2_INLINE v8 descale8(v8 x, int n)
{
    return _mm256_srai_epi32(ADD(x, _mm256_set1_epi32(1 << (n - 1))), n);
}

AUGCLI_AVX2_INLINE void transpose8(v8 *r)
{
    const v8 t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const v8 t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    const v8 t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    const v8 t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    const v8 u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const v8 u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const v8 u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const v8 u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* jpegsim.c fdct8 on 8 lanes: v[i] holds input i of each lane's transform */
AUGCLI_AVX2_INLINE void fdct8v(v8 *v, int rows)
{
    const v8 s07 = ADD(v[0], v[7]), d07 = SUB(v[0], v[7]), s16 = ADD(v[1], v[6]), d16 = SUB(v[1], v[6]);
    const v8 s25 = ADD(v[2], v[5]), d25 = SUB(v[2], v[5]), s34 = ADD(v[3], v[4]), d34 = SUB(v[3], v[4]);
    const v8 e0 = ADD(s07, s34), e3 = SUB(s07, s34), e1 = ADD(s16, s25), e2 = SUB(s16, s25);
    const int n = rows ? JPEG_CB - JPEG_P1 : JPEG_CB + JPEG_P1;
    if (rows) {
        v[0] = _mm256_slli_epi32(ADD(e0, e1), JPEG_P1);
        v[4] = _mm256_slli_epi32(SUB(e0, e1), JPEG_P1);
    } else {
        v[0] = descale8(ADD(e0, e1), JPEG_P1);
        v[4] = descale8(SUB(e0, e1), JPEG_P1);
    }
    const v8 r = MULC(ADD(e2, e3), JPEG_F0541);
    v[2] = descale8(ADD(r, MULC(e3, JPEG_F0765)), n);
    v[6] = descale8(SUB(r, MULC(e2, JPEG_F1847)), n);
    const v8 z5 = MULC(ADD(ADD(d34, d16), ADD(d25, d07)), JPEG_F1175);
    const v8 z1 = MULC(ADD(d34, d07), -JPEG_F0899), z2 = MULC(ADD(d25, d16), -JPEG_F2562);
    const v8 z3 = ADD(MULC(ADD(d34, d16), -JPEG_F1961), z5), z4 = ADD(MULC(ADD(d25, d07), -JPEG_F0390), z5);
    v[7] = descale8(ADD(MULC(d34, JPEG_F0298), ADD(z1, z3)), n);
    v[5] = descale8(ADD(MULC(d25, JPEG_F2053), ADD(z2, z4)), n);
    v[3] = descale8(ADD(MULC(d16, JPEG_F3072), ADD(z2, z3)), n);
    v[1] = descale8(ADD(MULC(d07, JPEG_F1501), ADD(z1, z4)), n);
}

/* jpegsim.c idct8 on 8 lanes, in place, descaled by n */
AUGCLI_AVX2_INLINE void idct8v(v8 *v, int n)
{
    const v8 z1 = MULC(ADD(v[2], v[6]), JPEG_F0541);
    const v8 t2 = SUB(z1, MULC(v[6], JPEG_F1847)), t3 = ADD(z1, MULC(v[2], JPEG_F0765));
    const v8 t0 = _mm256_slli_epi32(ADD(v[0], v[4]), JPEG_CB), t1 = _mm256_slli_epi32(SUB(v[0], v[4]), JPEG_CB);
    const v8 e10 = ADD(t0, t3), e13 = SUB(t0, t3), e11 = ADD(t1, t2), e12 = SUB(t1, t2);
    const v8 a = v[7], b = v[5], c = v[3], d = v[1];
    const v8 z5 = MULC(ADD(ADD(a, c), ADD(b, d)), JPEG_F1175);
    const v8 y1 = MULC(ADD(a, d), -JPEG_F0899), y2 = MULC(ADD(b, c), -JPEG_F2562);
    const v8 y3 = ADD(MULC(ADD(a, c), -JPEG_F1961), z5), y4 = ADD(MULC(ADD(b, d), -JPEG_F0390), z5);
    const v8 o0 = ADD(MULC(a, JPEG_F0298), ADD(y1, y3)), o1 = ADD(MULC(b, JPEG_F2053), ADD(y2, y4));
    const v8 o2 = ADD(MULC(c, JPEG_F3072), ADD(y2, y3)), o3 = ADD(MULC(d, JPEG_F1501), ADD(y1, y4));
    v[0] = descale8(ADD(e10, o3), n);
    v[7] = descale8(SUB(e10, o3), n);
    v[1] = descale8(ADD(e11, o2), n);
    v[6] = descale8(SUB(e11, o2), n);
    v[2] = descale8(ADD(e12, o1), n);
    v[5] = descale8(SUB(e12, o1), n);
    v[3] = descale8(ADD(e13, o0), n);
    v[4] = descale8(SUB(e13, o0), n);
}

/* the block stage on rows already in registers (r[i]: row i, samples 0..255 in 8 lanes) */
AUGCLI_AVX2_INLINE int block8(v8 *r, const jpeg_table *t, uint8_t *out, ptrdiff_t ostride)
{
    const v8 centre = _mm256_set1_epi32(128);
    for (int i = 0; i < 8; i++)
        r[i] = SUB(r[i], centre);
    transpose8(r);
    fdct8v(r, 1);
    transpose8(r);
    fdct8v(r, 0);
    for (int i = 0; i < 8; i++) {
        const v8 n = ADD(_mm256_abs_epi32(r[i]), _mm256_loadu_si256((const __m256i *)(t->half + 8 * i)));
        const v8 k = _mm256_srlv_epi32(_mm256_mullo_epi32(n, _mm256_loadu_si256((const __m256i *)(t->mul + 8 * i))),
                                       _mm256_loadu_si256((const __m256i *)(t->shift + 8 * i)));
        r[i] = _mm256_mullo_epi32(_mm256_sign_epi32(k, r[i]), _mm256_loadu_si256((const __m256i *)(t->q + 8 * i)));
    }
    /* columns without AC terms (common after quantisation): every output of the pass is the DC
     * times 4, which is what the full transform computes for them (descale(dc 2^13, 11)) */
    v8 ac = r[1];
    for (int i = 2; i < 8; i++)
        ac = _mm256_or_si256(ac, r[i]);
    if (_mm256_testz_si256(ac, ac)) {
        const v8 dc = _mm256_slli_epi32(r[0], JPEG_P1);
        for (int i = 0; i < 8; i++)
            r[i] = dc;
    } else {
        idct8v(r, JPEG_CB - JPEG_P1);
    }
    const v8 wsmax = _mm256_set1_epi32(JPEG_WS_MAX);
    v8 over = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++)
        over = _mm256_or_si256(over, _mm256_cmpgt_epi32(_mm256_abs_epi32(r[i]), wsmax));
    transpose8(r);
    ac = r[1];
    for (int i = 2; i < 8; i++)
        ac = _mm256_or_si256(ac, r[i]);
    if (_mm256_testz_si256(ac, ac)) {
        /* rows without AC terms: all 8 outputs of row i are descale(dc_i 2^13, 18), lane i of dc */
        const v8 dc = descale8(r[0], JPEG_P1 + 3);
        for (int i = 0; i < 8; i++)
            r[i] = _mm256_permutevar8x32_epi32(dc, _mm256_set1_epi32(i));
    } else {
        idct8v(r, JPEG_CB + JPEG_P1 + 3);
        transpose8(r);
    }
    const v8 hi = _mm256_set1_epi32(511), lo = _mm256_set1_epi32(-512);
    for (int i = 0; i < 8; i++) {
        over = _mm256_or_si256(over, _mm256_or_si256(_mm256_cmpgt_epi32(r[i], hi), _mm256_cmpgt_epi32(lo, r[i])));
        r[i] = ADD(r[i], centre);
    }
    for (int i = 0; i < 8; i += 4) {
        /* int32 -> int16 (saturating) -> uint8 (clamped to 0..255), rows back in order */
        const v8 p01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(r[i], r[i + 1]), 0xD8);
        const v8 p23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(r[i + 2], r[i + 3]), 0xD8);
        const v8 b = _mm256_packus_epi16(p01, p23); /* rows i, i+2 | i+1, i+3 */
        const __m128i lo128 = _mm256_castsi256_si128(b), hi128 = _mm256_extracti128_si256(b, 1);
        _mm_storel_epi64((__m128i *)(out + (i + 0) * ostride), lo128);
        _mm_storel_epi64((__m128i *)(out + (i + 1) * ostride), hi128);
        _mm_storel_epi64((__m128i *)(out + (i + 2) * ostride), _mm_unpackhi_epi64(lo128, lo128));
        _mm_storel_epi64((__m128i *)(out + (i + 3) * ostride), _mm_unpackhi_epi64(hi128, hi128));
    }
    return !_mm256_testz_si256(over, over);
}

AUGCLI_TARGET_AVX2 int augcli_jpeg_block_avx2(int32_t *blk, const jpeg_table *t, uint8_t *out, ptrdiff_t ostride)
{
    v8 r[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_si256((const __m256i *)(blk + 8 * i));
    return block8(r, t, out, ostride);
}

/* Y of 8 pixels (load8 lanes: R, G, B in bytes 0, 1, 2) */
AUGCLI_AVX2_INLINE v8 luma8(v8 px)
{
    const v8 byte = _mm256_set1_epi32(255);
    const v8 r = _mm256_and_si256(px, byte), g = _mm256_and_si256(_mm256_srli_epi32(px, 8), byte);
    const v8 b = _mm256_and_si256(_mm256_srli_epi32(px, 16), byte);
    return _mm256_srli_epi32(ADD(ADD(MULC(r, 19595), MULC(g, 38470)), ADD(MULC(b, 7471), _mm256_set1_epi32(32768))), 16);
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
    v8 yb[4][8], cbr[8], crr[8];
    v8 cb0 = _mm256_setzero_si256(), cb1 = cb0, cr0 = cb0, cr1 = cb0;
    for (int r = 0; r < 16; r++) {
        v8 pa = augcli_load8(yrows[r], bpp), pb = augcli_load8(yrows[r] + 8 * bpp, bpp);
        yb[2 * (r >> 3)][r & 7] = luma8(pa);
        yb[2 * (r >> 3) + 1][r & 7] = luma8(pb);
        if (crows[r] != yrows[r]) {
            pa = augcli_load8(crows[r], bpp);
            pb = augcli_load8(crows[r] + 8 * bpp, bpp);
        }
        v8 ca, cbb, ra, rb;
        chroma8(pa, &ca, &ra);
        chroma8(pb, &cbb, &rb);
        if (r & 1) {
            cbr[r >> 1] = down8(ADD(cb0, ca), ADD(cb1, cbb));
            crr[r >> 1] = down8(ADD(cr0, ra), ADD(cr1, rb));
        } else {
            cb0 = ca, cb1 = cbb, cr0 = ra, cr1 = rb;
        }
    }
    int bad = 0;
    for (int k = 0; k < 4; k++)
        if (ymask >> k & 1)
            bad |= block8(yb[k], &tab[0], y + (ptrdiff_t)8 * (k >> 1) * ys + 8 * (k & 1), ys);
    bad |= block8(cbr, &tab[1], cb, cs);
    bad |= block8(crr, &tab[1], cr, cs);
    return bad;
}

AUGCLI_TARGET_AVX2 int augcli_jpeg_grey_avx2(const uint8_t *const *rows, int bpp, const jpeg_table *t, uint8_t *out,
                                             ptrdiff_t ostride)
{
    v8 r[8];
    for (int i = 0; i < 8; i++) {
        const uint8_t *p = rows[i];
        r[i] = bpp == 1 ? _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p))
                        : _mm256_and_si256(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), _mm256_set1_epi32(255));
    }
    return block8(r, t, out, ostride);
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
            const v8 even = _mm256_srai_epi32(ADD(ADD(mid, _mm256_loadu_si256((const __m256i *)(sum + c - 1))), eight), 4);
            const v8 odd = _mm256_srai_epi32(ADD(ADD(mid, _mm256_loadu_si256((const __m256i *)(sum + c + 1))), seven), 4);
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
                _mm256_storeu_si256((__m256i *)o, _mm256_or_si256(px, _mm256_and_si256(extra, _mm256_set1_epi32((int)0xFF000000u))));
            } else {
                augcli_store8(o, px, 3);
            }
        }
    }
    return x;
}
#endif
