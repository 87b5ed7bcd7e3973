/* Eight pixels of a packed 8-bit image in the 8 uint32 lanes of an AVX2 register, for the pixel
 * kernels' SIMD paths (iso.c, clahe.c): byte c of a lane is byte c of the pixel (alpha included),
 * bytes past bpp are zero. Only for code built with AUGCLI_TARGET_AVX2 or AVX-512.
 *
 * augcli_load8 at pixel i reads bytes i bpp .. i bpp + AUGCLI_READ8(bpp) - 1 (RGB reads 4 bytes past
 * its 24, so a caller stops one block early at the end of a buffer); augcli_store8 writes exactly
 * the 8 bpp bytes of the 8 pixels. */
#ifndef AUGCLI_KERNELS_SIMD8_H
#define AUGCLI_KERNELS_SIMD8_H

#include <immintrin.h>
#include <string.h>

#include "pixel.h"

#define AUGCLI_READ8(bpp) ((bpp) == 3 ? 28 : 8 * (bpp))
#define AUGCLI_AVX2_INLINE AUGCLI_TARGET_AVX2 static inline __attribute__((always_inline))

AUGCLI_AVX2_INLINE __m256i augcli_load8(const uint8_t *p, int bpp)
{
    switch (bpp) {
    case 1:
        return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    case 2:
        return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    case 3: {
        const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
        const __m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), spread);
        const __m128i hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 12)), spread);
        return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    }
    default:
        return _mm256_loadu_si256((const __m256i *)p);
    }
}

AUGCLI_AVX2_INLINE void augcli_store4(uint8_t *p, __m128i v, int bpp)
{
    /* the first bpp bytes of each of the 4 lanes, packed */
    static const int8_t pack[4][16] = {
        {0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1},
        {0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1},
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    };
    const __m128i packed = _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i *)pack[bpp - 1]));
    if (bpp == 1) {
        const int32_t b4 = _mm_cvtsi128_si32(packed);
        memcpy(p, &b4, 4);
    } else if (bpp == 2) {
        _mm_storel_epi64((__m128i *)p, packed);
    } else { /* 3: 8 + 4 bytes, each store of a constant size */
        const int32_t b4 = _mm_extract_epi32(packed, 2);
        _mm_storel_epi64((__m128i *)p, packed);
        memcpy(p + 8, &b4, 4);
    }
}

AUGCLI_AVX2_INLINE void augcli_store8(uint8_t *p, __m256i v, int bpp)
{
    if (bpp == 4) {
        _mm256_storeu_si256((__m256i *)p, v);
        return;
    }
    augcli_store4(p, _mm256_castsi256_si128(v), bpp);
    augcli_store4(p + 4 * bpp, _mm256_extracti128_si256(v, 1), bpp);
}

/* The noise kernels' generator (augcli_mix64) on 4 uint64 lanes (AVX2: the 64-bit products from
 * 32 x 32-bit ones) and on 8 (AVX-512DQ: vpmullq). */
AUGCLI_AVX2_INLINE __m256i augcli_mul64(__m256i z, uint64_t c)
{
    const __m256i lo = _mm256_set1_epi64x((int64_t)(c & 0xFFFFFFFFu)), hi = _mm256_set1_epi64x((int64_t)(c >> 32));
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(z, 32), lo), _mm256_mul_epu32(z, hi));
    return _mm256_add_epi64(_mm256_mul_epu32(z, lo), _mm256_slli_epi64(cross, 32));
}

AUGCLI_AVX2_INLINE __m256i augcli_mix4(__m256i z)
{
    z = augcli_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xBF58476D1CE4E5B9ULL);
    z = augcli_mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94D049BB133111EBULL);
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

/* The counters of pixels 0 .. 3, key + (i + 1) golden: augcli_mix4 of them is each pixel's hash. */
AUGCLI_AVX2_INLINE __m256i augcli_counters4(uint64_t key)
{
    return _mm256_setr_epi64x((int64_t)(key + 1 * AUGCLI_GOLDEN), (int64_t)(key + 2 * AUGCLI_GOLDEN),
                              (int64_t)(key + 3 * AUGCLI_GOLDEN), (int64_t)(key + 4 * AUGCLI_GOLDEN));
}

#define AUGCLI_AVX512_INLINE AUGCLI_TARGET_AVX512 static inline __attribute__((always_inline))

/* The counters of pixels 0 .. 7 (lane i: key + (i + 1) golden). */
AUGCLI_AVX512_INLINE __m512i augcli_counters8(uint64_t key)
{
    return _mm512_set_epi64((int64_t)(key + 8 * AUGCLI_GOLDEN), (int64_t)(key + 7 * AUGCLI_GOLDEN),
                            (int64_t)(key + 6 * AUGCLI_GOLDEN), (int64_t)(key + 5 * AUGCLI_GOLDEN),
                            (int64_t)(key + 4 * AUGCLI_GOLDEN), (int64_t)(key + 3 * AUGCLI_GOLDEN),
                            (int64_t)(key + 2 * AUGCLI_GOLDEN), (int64_t)(key + 1 * AUGCLI_GOLDEN));
}

AUGCLI_AVX512_INLINE __m512i augcli_mix8(__m512i z)
{
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((int64_t)0xBF58476D1CE4E5B9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((int64_t)0x94D049BB133111EBULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

#endif
