/* Salt-and-pepper's SIMD paths, part of the _pixel module (the scalar build and the rule are pixel.c's
 * salt_pepper: per pixel r = mix64(key + (i + 1) golden); hit when r >> 32 < hit, then every colour
 * band 255 if (r mod 2^32) < salt, else 0; other pixels and bytes kept). AVX2 takes 8 pixels a block
 * (simd8.h; the 64-bit compares are signed ones, exact since both sides are below 2^33), AVX-512 the
 * same 8 with the hashes in one register (vpmullq, unsigned compares into masks). */
#include "pixel.h"

#if AUGCLI_X86
#include "simd8.h"

static void salt_tail(const uint8_t *s, uint8_t *d, size_t i, size_t npx, int bpp, int nc, uint64_t hit,
                      uint64_t salt, uint64_t key)
{
    for (; i < npx; i++)
        augcli_salt_pixel(s, d, i, bpp, nc, hit, salt, key);
}

/* two sets of 4 int64 lanes (each 0 or all ones) as 8 int32 lanes, a's first */
AUGCLI_AVX2_INLINE __m256i salt_narrow(__m256i a, __m256i b)
{
    const __m256i both = _mm256_blend_epi32(a, b, 0xAA); /* a's low dwords, b's high ones (each lane all 0 or 1) */
    return _mm256_permutevar8x32_epi32(both, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

/* the 8 pixels v with the hit and salt lane masks applied to the colour bytes `colour` */
AUGCLI_AVX2_INLINE __m256i salt_apply8(__m256i v, __m256i is_hit, __m256i is_salt, __m256i colour)
{
    const __m256i value = _mm256_and_si256(is_salt, colour); /* 255 in every colour byte, or 0 */
    const __m256i hit_bytes = _mm256_and_si256(is_hit, colour);
    return _mm256_or_si256(_mm256_andnot_si256(hit_bytes, v), _mm256_and_si256(hit_bytes, value));
}

AUGCLI_TARGET_AVX2 static void salt_avx2(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, uint64_t hit,
                                         uint64_t salt, uint64_t key)
{
    const __m256i colour = _mm256_set1_epi32(nc >= 4 ? -1 : (int)((1u << (8 * nc)) - 1));
    const __m256i hitv = _mm256_set1_epi64x((int64_t)hit), saltv = _mm256_set1_epi64x((int64_t)salt);
    const __m256i low = _mm256_set1_epi64x(0xFFFFFFFF);
    __m256i ca = augcli_counters4(key);
    const __m256i four = _mm256_set1_epi64x((int64_t)(4 * AUGCLI_GOLDEN));
    const __m256i step = _mm256_set1_epi64x((int64_t)(8 * AUGCLI_GOLDEN));
    size_t i = 0;
    for (; i * bpp + AUGCLI_READ8(bpp) <= npx * bpp; i += 8) {
        const __m256i ra = augcli_mix4(ca), rb = augcli_mix4(_mm256_add_epi64(ca, four));
        const __m256i is_hit = salt_narrow(_mm256_cmpgt_epi64(hitv, _mm256_srli_epi64(ra, 32)),
                                           _mm256_cmpgt_epi64(hitv, _mm256_srli_epi64(rb, 32)));
        const __m256i is_salt = salt_narrow(_mm256_cmpgt_epi64(saltv, _mm256_and_si256(ra, low)),
                                            _mm256_cmpgt_epi64(saltv, _mm256_and_si256(rb, low)));
        augcli_store8(d + i * bpp, salt_apply8(augcli_load8(s + i * bpp, bpp), is_hit, is_salt, colour), bpp);
        ca = _mm256_add_epi64(ca, step);
    }
    salt_tail(s, d, i, npx, bpp, nc, hit, salt, key);
}

AUGCLI_TARGET_AVX512 static void salt_avx512(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc,
                                             uint64_t hit, uint64_t salt, uint64_t key)
{
    const __m256i colour = _mm256_set1_epi32(nc >= 4 ? -1 : (int)((1u << (8 * nc)) - 1)), ones = _mm256_set1_epi32(-1);
    const __m512i hitv = _mm512_set1_epi64((int64_t)hit), saltv = _mm512_set1_epi64((int64_t)salt);
    const __m512i low = _mm512_set1_epi64(0xFFFFFFFF), step = _mm512_set1_epi64((int64_t)(8 * AUGCLI_GOLDEN));
    __m512i ctr = augcli_counters8(key);
    size_t i = 0;
    for (; i * bpp + AUGCLI_READ8(bpp) <= npx * bpp; i += 8) {
        const __m512i r = augcli_mix8(ctr);
        const __mmask8 is_hit = _mm512_cmplt_epu64_mask(_mm512_srli_epi64(r, 32), hitv);
        const __mmask8 is_salt = _mm512_cmplt_epu64_mask(_mm512_and_si512(r, low), saltv);
        const __m256i h = _mm256_maskz_mov_epi32(is_hit, ones), sv = _mm256_maskz_mov_epi32(is_salt, ones);
        augcli_store8(d + i * bpp, salt_apply8(augcli_load8(s + i * bpp, bpp), h, sv, colour), bpp);
        ctr = _mm512_add_epi64(ctr, step);
    }
    salt_tail(s, d, i, npx, bpp, nc, hit, salt, key);
}

void augcli_salt_simd(int path, const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, uint64_t hit,
                      uint64_t salt, uint64_t key)
{
    /* the bands pixel.c's AUGCLI_BY_LAYOUT gives each layout: 1 and 2 bytes one, 3 bytes three */
    nc = bpp <= 2 ? 1 : (bpp == 3 ? 3 : nc);
    if (path == AUGCLI_AVX512)
        salt_avx512(s, d, npx, bpp, nc, hit, salt, key);
    else
        salt_avx2(s, d, npx, bpp, nc, hit, salt, key);
}
#endif
