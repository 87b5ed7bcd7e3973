/* The warp's AVX2 rows (row4_avx2, fill_coords_avx2, rowc_avx2). See warp.h and warp_simd.h. */
#include "warp_simd.h"

#if AUGCLI_X86

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

/* The pixels at 32-bit indices idx (y w + x): dword gathers; a packed RGB source is read at byte 3 idx
 * (the fourth byte read is the next pixel's, replaced by the pad byte; the caller leaves slack). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i
gather_avx2(const c256 *c, __m256i idx)
{
    if (c->sb3)
        return _mm256_or_si256(_mm256_i32gather_epi32((const int *)c->bytes, _mm256_add_epi32(idx, _mm256_add_epi32(idx, idx)), 1), c->pad);
    return _mm256_i32gather_epi32((const int *)c->bytes, idx, 4);
}

/* 8 output pixels from their 32.32 coordinates, split into hi (int32) and lo (uint32) halves */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i
pixels_avx2(const c256 *c, __m256i u_hi, __m256i u_lo, __m256i v_hi, __m256i v_lo)
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
    return blend_avx2(p00, p01, p10, p11, wx0, wx1, wy0, wy1);
}

__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
block_avx2(const c256 *c, __m256i u_hi, __m256i u_lo, __m256i v_hi, __m256i v_lo, uint8_t *out)
{
    _mm256_storeu_si256((__m256i *)out, pixels_avx2(c, u_hi, u_lo, v_hi, v_lo));
}

__attribute__((target("avx2"))) void row4_avx2(const warp_job *j, int64_t U, int64_t DU, int64_t V,
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
__attribute__((target("avx2"))) void fill_coords_avx2(const warp_job *j, int32_t y, int32_t xa, int32_t n,
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
            /* clamp_coord: maxpd gives its second operand unless the first is greater (NaN too) */
            d = _mm256_min_pd(_mm256_max_pd(d, nlim), lim);
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

/* Sample a block of 8 pixels from coordinates in registers (as sample16_avx512). */
__attribute__((target("avx2"))) static inline __m256i sample8_avx2(const warp_job *j, const c256 *c, __m256i uh,
                                                                   __m256i ul, __m256i vh, __m256i vl)
{
    if (j->fill == FILL_REFLECT || j->fill == FILL_WRAP) {
        /* -n <= i <= 2n - 2, as -n - 1 < i < 2n - 1 */
        const __m256i nw = _mm256_set1_epi32(-j->sw - 1), nh = _mm256_set1_epi32(-j->sh - 1);
        const __m256i w2 = _mm256_set1_epi32(2 * j->sw - 1), h2 = _mm256_set1_epi32(2 * j->sh - 1);
        const __m256i in = _mm256_and_si256(_mm256_and_si256(_mm256_cmpgt_epi32(uh, nw), _mm256_cmpgt_epi32(w2, uh)),
                                            _mm256_and_si256(_mm256_cmpgt_epi32(vh, nh), _mm256_cmpgt_epi32(h2, vh)));
        if (_mm256_movemask_epi8(in) != -1) {
            coords k;
            _mm256_storeu_si256((__m256i *)k.uh, uh), _mm256_storeu_si256((__m256i *)k.ul, ul);
            _mm256_storeu_si256((__m256i *)k.vh, vh), _mm256_storeu_si256((__m256i *)k.vl, vl);
            uint8_t px[32];
            rowc_scalar(j, &k, 0, 8, px);
            return _mm256_loadu_si256((const __m256i *)px);
        }
    }
    return pixels_avx2(c, uh, ul, vh, vl);
}

/* The remap's rows for cells of 8 px, 64 px at a time (as rowg8_avx512: lane k of block f is pixel
 * 8 k + f; an 8 x 8 transpose puts the pixels in order). Returns the pixels done. */
__attribute__((target("avx2"))) static int32_t rowg8_avx2(const warp_job *j, const c256 *c, const cells *g,
                                                          int32_t xa, int32_t n, uint8_t *out)
{
    const __m256i round = _mm256_set1_epi32(BILINEAR_OFS);
    uint8_t part[4 * 64]; /* a last group that ends past the segment: its pixels in the segment are kept */
    int32_t i = 0;
    for (; n - i >= 32; i += 64) {
        const int32_t off = ((xa + i) >> 3) - g->c0;
        uint8_t *const dst = n - i >= 64 ? out + 4 * (ptrdiff_t)i : part;
        __m256i uh[8], ul[8], vh[8], vl[8], y[8];
        {
            __m256i qu = _mm256_loadu_si256((const __m256i *)(g->pq[0] + off));
            __m256i ru = _mm256_loadu_si256((const __m256i *)(g->pr[0] + off));
            __m256i qv = _mm256_loadu_si256((const __m256i *)(g->pq[1] + off));
            __m256i rv = _mm256_loadu_si256((const __m256i *)(g->pr[1] + off));
            const __m256i dqu = _mm256_loadu_si256((const __m256i *)(g->dq[0] + off));
            const __m256i dru = _mm256_loadu_si256((const __m256i *)(g->dr[0] + off));
            const __m256i dqv = _mm256_loadu_si256((const __m256i *)(g->dq[1] + off));
            const __m256i drv = _mm256_loadu_si256((const __m256i *)(g->dr[1] + off));
            for (int f = 0; f < 8; f++) {
                const __m256i tu = _mm256_add_epi32(qu, _mm256_srli_epi32(ru, 6));
                const __m256i tv = _mm256_add_epi32(qv, _mm256_srli_epi32(rv, 6));
                uh[f] = _mm256_srai_epi32(tu, 16), ul[f] = _mm256_or_si256(_mm256_slli_epi32(tu, 16), round);
                vh[f] = _mm256_srai_epi32(tv, 16), vl[f] = _mm256_or_si256(_mm256_slli_epi32(tv, 16), round);
                qu = _mm256_add_epi32(qu, dqu), ru = _mm256_add_epi32(ru, dru);
                qv = _mm256_add_epi32(qv, dqv), rv = _mm256_add_epi32(rv, drv);
            }
        }
        for (int f = 0; f < 8; f++)
            y[f] = sample8_avx2(j, c, uh[f], ul[f], vh[f], vl[f]);
        /* as rowg8_avx512: b[k'] holds pixel 8 (4 L + k') + 0..3 in 128-bit lane L, b[4 + k'] + 4..7 */
        __m256i a[8], b[8];
        for (int p = 0; p < 4; p++) {
            a[2 * p] = _mm256_unpacklo_epi32(y[2 * p], y[2 * p + 1]);
            a[2 * p + 1] = _mm256_unpackhi_epi32(y[2 * p], y[2 * p + 1]);
        }
        for (int h = 0; h < 2; h++) {
            b[4 * h + 0] = _mm256_unpacklo_epi64(a[4 * h], a[4 * h + 2]);
            b[4 * h + 1] = _mm256_unpackhi_epi64(a[4 * h], a[4 * h + 2]);
            b[4 * h + 2] = _mm256_unpacklo_epi64(a[4 * h + 1], a[4 * h + 3]);
            b[4 * h + 3] = _mm256_unpackhi_epi64(a[4 * h + 1], a[4 * h + 3]);
        }
        for (int k = 0; k < 4; k++) { /* pixels 8 k .. 8 k + 7 (k = 4 L + k'): b[k'] and b[4 + k'], lane L */
            uint8_t *o = dst + 32 * k;
            _mm256_storeu_si256((__m256i *)o, _mm256_permute2x128_si256(b[k], b[4 + k], 0x20));
            _mm256_storeu_si256((__m256i *)(o + 128), _mm256_permute2x128_si256(b[k], b[4 + k], 0x31));
        }
        if (dst == part)
            return memcpy(out + 4 * (ptrdiff_t)i, part, 4 * (size_t)(n - i)), n;
    }
    return i;
}

/* t of coordinate e, as cell_t_avx512 */
__attribute__((target("avx2"))) static inline __m256i cell_t_avx2(const cells *g, int e, int32_t off, __m256i idx,
                                                                  __m256i fx, __m128i c2s)
{
    const __m256i pq = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(g->pq[e] + off)), idx);
    const __m256i pr = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(g->pr[e] + off)), idx);
    const __m256i dq = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(g->dq[e] + off)), idx);
    const __m256i dr = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(g->dr[e] + off)), idx);
    return _mm256_add_epi32(_mm256_add_epi32(pq, _mm256_mullo_epi32(dq, fx)),
                            _mm256_srl_epi32(_mm256_add_epi32(pr, _mm256_mullo_epi32(dr, fx)), c2s));
}

/* the remap's rows from its cells (as rowg_avx512, 8 lanes) */
__attribute__((target("avx2"))) void rowg_avx2(const warp_job *j, const cells *g, int32_t xa, int32_t n, uint8_t *out)
{
    c256 c;
    consts_avx2(j, &c);
    const int s = j->gshift;
    const __m128i cs = _mm_cvtsi32_si128(s), c2s = _mm_cvtsi32_si128(2 * s);
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i fmask = _mm256_set1_epi32((1 << s) - 1), round = _mm256_set1_epi32(BILINEAR_OFS);
    int32_t i = 0;
    if (s == 3 && !(xa & 7))
        i = rowg8_avx2(j, &c, g, xa, n, out);
    for (; i + 8 <= n; i += 8) {
        const int32_t x = xa + i, off = (x >> s) - g->c0;
        const __m256i xv = _mm256_add_epi32(_mm256_set1_epi32(x), iota);
        const __m256i idx = _mm256_sub_epi32(_mm256_srl_epi32(xv, cs), _mm256_set1_epi32(x >> s));
        const __m256i fx = _mm256_and_si256(xv, fmask);
        const __m256i tu = cell_t_avx2(g, 0, off, idx, fx, c2s), tv = cell_t_avx2(g, 1, off, idx, fx, c2s);
        _mm256_storeu_si256((__m256i *)(out + 4 * (ptrdiff_t)i),
                            sample8_avx2(j, &c, _mm256_srai_epi32(tu, 16), _mm256_or_si256(_mm256_slli_epi32(tu, 16), round),
                                         _mm256_srai_epi32(tv, 16), _mm256_or_si256(_mm256_slli_epi32(tv, 16), round)));
    }
    if (i < n) {
        coords k;
        cells_tail(j, g, xa, i, n, &k);
        rowc_scalar(j, &k, 0, n - i, out + 4 * (ptrdiff_t)i);
    }
}

/* the same, for coordinates computed per pixel (projective rows): read from arrays */
__attribute__((target("avx2"))) void rowc_avx2(const warp_job *j, const coords *k, int32_t n, uint8_t *out)
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

#endif /* AUGCLI_X86 */
