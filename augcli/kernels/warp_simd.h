/* The x86 helpers the AVX2 rows (warp_avx2.c) and the AVX-512 rows (warp_avx512.c) share: the
 * prefetch hints, the AVX2 constants and the pair loads. Every function carries its own target
 * attribute (no global -mavx flags), so the file compiles for any x86-64.
 */
#ifndef AUGCLI_KERNELS_WARP_SIMD_H
#define AUGCLI_KERNELS_WARP_SIMD_H

#include "warp.h"

/* ---------------------------------------------------------------------------------------------- */
/* SIMD rows: 8-bit, 4 bytes per pixel, bilinear, affine. Same integers as pixel_bilinear. */

#if AUGCLI_X86

#include <immintrin.h>

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

#endif /* AUGCLI_X86 */

#endif
