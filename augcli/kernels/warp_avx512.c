/* The warp's AVX-512 rows (row4_avx512, fill_coords_avx512, rowc_avx512). See warp.h and
 * warp_simd.h.
 */
#include "warp_simd.h"

#if AUGCLI_X86

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
AVX512 static inline __m512i pixels_avx512(const c512 *c, __m512i u_hi, __m512i u_lo, __m512i v_hi, __m512i v_lo)
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
    return blend_avx512(p00, p01, p10, p11, wx0, wx1, wy0, wy1);
}

AVX512 static inline void block_avx512(const c512 *c, __m512i u_hi, __m512i u_lo, __m512i v_hi, __m512i v_lo,
                                       uint8_t *out)
{
    _mm512_storeu_si512((void *)out, pixels_avx512(c, u_hi, u_lo, v_hi, v_lo));
}

AVX512 void row4_avx512(const warp_job *j, int64_t U, int64_t DU, int64_t V, int64_t DV, int32_t n,
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
AVX512 void fill_coords_avx512(const warp_job *j, int32_t y, int32_t xa, int32_t n, coords *k)
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
            /* clamp_coord: maxpd gives its second operand unless the first is greater (NaN too) */
            d = _mm512_min_pd(_mm512_max_pd(d, nlim), lim);
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

/* Sample a block of 16 pixels from coordinates in registers: by block_avx512 when one fold of the
 * fill mode covers its taps (always, for nearest and constant), else pixel by pixel (the same bytes). */
AVX512 static inline __m512i sample16_avx512(const warp_job *j, const c512 *c, __m512i uh, __m512i ul, __m512i vh,
                                             __m512i vl)
{
    if (j->fill == FILL_REFLECT || j->fill == FILL_WRAP) {
        const __m512i nw = _mm512_set1_epi32(-j->sw), nh = _mm512_set1_epi32(-j->sh);
        const __m512i w2 = _mm512_set1_epi32(2 * j->sw - 2), h2 = _mm512_set1_epi32(2 * j->sh - 2);
        const __mmask16 in = _mm512_cmpge_epi32_mask(uh, nw) & _mm512_cmple_epi32_mask(uh, w2) &
                             _mm512_cmpge_epi32_mask(vh, nh) & _mm512_cmple_epi32_mask(vh, h2);
        if (in != 0xFFFF) {
            coords k;
            _mm512_storeu_si512(k.uh, uh), _mm512_storeu_si512(k.ul, ul);
            _mm512_storeu_si512(k.vh, vh), _mm512_storeu_si512(k.vl, vl);
            uint8_t px[64];
            rowc_scalar(j, &k, 0, 16, px);
            return _mm512_loadu_si512(px);
        }
    }
    return pixels_avx512(c, uh, ul, vh, vl);
}

/* The remap's rows for cells of 8 px (the distortions' grid), 128 px at a time: lane k of block f
 * is pixel 8 k + f, so each lane stays in one cell and its coordinates step by adding the cell's
 * dq and dr (no per-lane multiply or shuffle); the 8 blocks of pixels are then transposed into
 * pixel order. Returns the pixels done. */
AVX512 static int32_t rowg8_avx512(const warp_job *j, const c512 *c, const cells *g, int32_t xa, int32_t n,
                                   uint8_t *out)
{
    const __m512i round = _mm512_set1_epi32(BILINEAR_OFS);
    uint8_t part[4 * 128]; /* a last group that ends past the segment: its pixels in the segment are kept */
    int32_t i = 0;
    for (; n - i >= 64; i += 128) {
        const int32_t off = ((xa + i) >> 3) - g->c0;
        uint8_t *const dst = n - i >= 128 ? out + 4 * (ptrdiff_t)i : part;
        /* first the coordinates of the 8 blocks (a short chain of adds in registers), then the pixels */
        __m512i uh[8], ul[8], vh[8], vl[8], y[8];
        {
            __m512i qu = _mm512_loadu_si512(g->pq[0] + off), ru = _mm512_loadu_si512(g->pr[0] + off);
            __m512i qv = _mm512_loadu_si512(g->pq[1] + off), rv = _mm512_loadu_si512(g->pr[1] + off);
            const __m512i dqu = _mm512_loadu_si512(g->dq[0] + off), dru = _mm512_loadu_si512(g->dr[0] + off);
            const __m512i dqv = _mm512_loadu_si512(g->dq[1] + off), drv = _mm512_loadu_si512(g->dr[1] + off);
            for (int f = 0; f < 8; f++) {
                const __m512i tu = _mm512_add_epi32(qu, _mm512_srli_epi32(ru, 6));
                const __m512i tv = _mm512_add_epi32(qv, _mm512_srli_epi32(rv, 6));
                uh[f] = _mm512_srai_epi32(tu, 16), ul[f] = _mm512_or_si512(_mm512_slli_epi32(tu, 16), round);
                vh[f] = _mm512_srai_epi32(tv, 16), vl[f] = _mm512_or_si512(_mm512_slli_epi32(tv, 16), round);
                qu = _mm512_add_epi32(qu, dqu), ru = _mm512_add_epi32(ru, dru);
                qv = _mm512_add_epi32(qv, dqv), rv = _mm512_add_epi32(rv, drv);
            }
        }
        for (int f = 0; f < 8; f++)
            y[f] = sample16_avx512(j, c, uh[f], ul[f], vh[f], vl[f]);
        /* y[f] lane k = pixel 8 k + f: 32-bit then 64-bit interleaves make, in each 128-bit lane L,
         * b[k'] (k' = 0..3: pixel 8 (4 L + k') + 0..3) and b[4 + k'] (+ 4..7); 128-bit shuffles
         * then put pixels 16 m .. 16 m + 15 together */
        __m512i a[8], b[8];
        for (int p = 0; p < 4; p++) {
            a[2 * p] = _mm512_unpacklo_epi32(y[2 * p], y[2 * p + 1]);
            a[2 * p + 1] = _mm512_unpackhi_epi32(y[2 * p], y[2 * p + 1]);
        }
        for (int h = 0; h < 2; h++) { /* f 0..3, then f 4..7 */
            b[4 * h + 0] = _mm512_unpacklo_epi64(a[4 * h], a[4 * h + 2]);
            b[4 * h + 1] = _mm512_unpackhi_epi64(a[4 * h], a[4 * h + 2]);
            b[4 * h + 2] = _mm512_unpacklo_epi64(a[4 * h + 1], a[4 * h + 3]);
            b[4 * h + 3] = _mm512_unpackhi_epi64(a[4 * h + 1], a[4 * h + 3]);
        }
        for (int odd = 0; odd < 2; odd++) { /* pixel groups m = 2 L + odd: b[2 odd], b[4 + 2 odd], b[2 odd + 1], b[5 + 2 odd] */
            const __m512i p0 = b[2 * odd], p4 = b[4 + 2 * odd], p1 = b[2 * odd + 1], p5 = b[5 + 2 * odd];
            const __m512i lo04 = _mm512_shuffle_i32x4(p0, p4, 0x44), hi04 = _mm512_shuffle_i32x4(p0, p4, 0xEE);
            const __m512i lo15 = _mm512_shuffle_i32x4(p1, p5, 0x44), hi15 = _mm512_shuffle_i32x4(p1, p5, 0xEE);
            uint8_t *o = dst + 64 * odd;
            _mm512_storeu_si512(o + 0 * 128, _mm512_shuffle_i32x4(lo04, lo15, 0x88));
            _mm512_storeu_si512(o + 1 * 128, _mm512_shuffle_i32x4(lo04, lo15, 0xDD));
            _mm512_storeu_si512(o + 2 * 128, _mm512_shuffle_i32x4(hi04, hi15, 0x88));
            _mm512_storeu_si512(o + 3 * 128, _mm512_shuffle_i32x4(hi04, hi15, 0xDD));
        }
        if (dst == part)
            return memcpy(out + 4 * (ptrdiff_t)i, part, 4 * (size_t)(n - i)), n;
    }
    return i;
}

/* t = pq + dq fx + ((pr + dr fx) >> 2s) of coordinate e (0: u, 1: v), the lanes' cells at off + idx */
AVX512 static inline __m512i cell_t_avx512(const cells *g, int e, int32_t off, __m512i idx, __m512i fx, __m128i c2s)
{
    const __m512i pq = _mm512_permutexvar_epi32(idx, _mm512_loadu_si512(g->pq[e] + off));
    const __m512i pr = _mm512_permutexvar_epi32(idx, _mm512_loadu_si512(g->pr[e] + off));
    const __m512i dq = _mm512_permutexvar_epi32(idx, _mm512_loadu_si512(g->dq[e] + off));
    const __m512i dr = _mm512_permutexvar_epi32(idx, _mm512_loadu_si512(g->dr[e] + off));
    return _mm512_add_epi32(_mm512_add_epi32(pq, _mm512_mullo_epi32(dq, fx)),
                            _mm512_srl_epi32(_mm512_add_epi32(pr, _mm512_mullo_epi32(dr, fx)), c2s));
}

/* the remap's rows from its cells (warp.h) */
AVX512 void rowg_avx512(const warp_job *j, const cells *g, int32_t xa, int32_t n, uint8_t *out)
{
    c512 c;
    consts_avx512(j, &c);
    const int s = j->gshift;
    const __m128i cs = _mm_cvtsi32_si128(s), c2s = _mm_cvtsi32_si128(2 * s);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i fmask = _mm512_set1_epi32((1 << s) - 1), round = _mm512_set1_epi32(BILINEAR_OFS);
    int32_t i = 0;
    if (s == 3 && !(xa & 7))
        i = rowg8_avx512(j, &c, g, xa, n, out);
    for (; i + 16 <= n; i += 16) {
        const int32_t x = xa + i, off = (x >> s) - g->c0;
        const __m512i xv = _mm512_add_epi32(_mm512_set1_epi32(x), iota);
        const __m512i idx = _mm512_sub_epi32(_mm512_srl_epi32(xv, cs), _mm512_set1_epi32(x >> s));
        const __m512i fx = _mm512_and_si512(xv, fmask);
        const __m512i tu = cell_t_avx512(g, 0, off, idx, fx, c2s), tv = cell_t_avx512(g, 1, off, idx, fx, c2s);
        _mm512_storeu_si512(out + 4 * (ptrdiff_t)i,
                            sample16_avx512(j, &c, _mm512_srai_epi32(tu, 16), _mm512_or_si512(_mm512_slli_epi32(tu, 16), round),
                                            _mm512_srai_epi32(tv, 16), _mm512_or_si512(_mm512_slli_epi32(tv, 16), round)));
    }
    if (i < n) {
        coords k;
        cells_tail(j, g, xa, i, n, &k);
        rowc_scalar(j, &k, 0, n - i, out + 4 * (ptrdiff_t)i);
    }
}

AVX512 void rowc_avx512(const warp_job *j, const coords *k, int32_t n, uint8_t *out)
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

