/* Gaussian noise's SIMD paths, part of the _pixel module (the scalar build and the rules are pixel.c's
 * noise): sample c of pixel i becomes c + add[(r >> (16 c + 4)) & 4095], clamped, r = mix64(key +
 * (i + 1) golden), add the table of round(sigma z) over the normal table, clamped to +-256, that
 * pixel.c makes. AVX2 takes 8 pixels a block (simd8.h), AVX-512 16; the same integers, the last
 * pixels through the scalar form here. */
#include "pixel.h"

#include "normal_table.h"

#if AUGCLI_X86
#include "simd8.h"

#define NOISE_SHIFT(c) (16 * (c) + 16 - AUGCLI_NORMAL_BITS)

static void noise_tail(const uint8_t *s, uint8_t *d, size_t i, size_t npx, int bpp, int nc, const int32_t *add,
                       uint64_t key)
{
    for (; i < npx; i++) {
        const uint64_t r = augcli_mix64(key + (i + 1) * AUGCLI_GOLDEN);
        for (int c = 0; c < nc; c++)
            d[i * bpp + c] = augcli_u8((int64_t)s[i * bpp + c] + add[(r >> NOISE_SHIFT(c)) & 4095]);
        for (int c = nc; c < bpp; c++)
            d[i * bpp + c] = s[i * bpp + c];
    }
}

/* the colour bytes of a pixel lane */
static uint32_t noise_colour_mask(int nc) { return nc >= 4 ? 0xFFFFFFFFu : (1u << (8 * nc)) - 1; }

/* 8 lanes: the pixels v moved by their draws g[c] (int32), clamped, the other bytes kept */
AUGCLI_AVX2_INLINE __m256i noise_apply8(__m256i v, const __m256i *g, int nc)
{
    const __m256i byte = _mm256_set1_epi32(255), zero = _mm256_setzero_si256();
    __m256i out = _mm256_andnot_si256(_mm256_set1_epi32((int)noise_colour_mask(nc)), v);
    for (int c = 0; c < nc; c++) {
        const __m256i q = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(v, 8 * c), byte), g[c]);
        out = _mm256_or_si256(out, _mm256_slli_epi32(_mm256_max_epi32(_mm256_min_epi32(q, byte), zero), 8 * c));
    }
    return out;
}

AUGCLI_AVX2_INLINE __m128i noise_draw4(__m256i r, int c, const int32_t *add)
{
    const __m256i idx = _mm256_and_si256(_mm256_srli_epi64(r, NOISE_SHIFT(c)), _mm256_set1_epi64x(4095));
    return _mm256_i64gather_epi32((const int *)add, idx, 4);
}

AUGCLI_TARGET_AVX2 static void noise_avx2(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc,
                                          const int32_t *add, uint64_t key)
{
    __m256i ca = augcli_counters4(key);
    const __m256i four = _mm256_set1_epi64x((int64_t)(4 * AUGCLI_GOLDEN));
    const __m256i step = _mm256_set1_epi64x((int64_t)(8 * AUGCLI_GOLDEN));
    size_t i = 0;
    for (; i * bpp + AUGCLI_READ8(bpp) <= npx * bpp; i += 8) {
        const __m256i ra = augcli_mix4(ca), rb = augcli_mix4(_mm256_add_epi64(ca, four));
        __m256i g[4];
        for (int c = 0; c < nc; c++)
            g[c] = _mm256_inserti128_si256(_mm256_castsi128_si256(noise_draw4(ra, c, add)), noise_draw4(rb, c, add), 1);
        augcli_store8(d + i * bpp, noise_apply8(augcli_load8(s + i * bpp, bpp), g, nc), bpp);
        ca = _mm256_add_epi64(ca, step);
    }
    noise_tail(s, d, i, npx, bpp, nc, add, key);
}

AUGCLI_TARGET_AVX512 static void noise_avx512(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc,
                                              const int32_t *add, uint64_t key)
{
    __m512i ca = augcli_counters8(key);
    const __m512i eight = _mm512_set1_epi64((int64_t)(8 * AUGCLI_GOLDEN));
    const __m512i step = _mm512_set1_epi64((int64_t)(16 * AUGCLI_GOLDEN)), mask = _mm512_set1_epi64(4095);
    size_t i = 0;
    for (; i * bpp + 8 * bpp + AUGCLI_READ8(bpp) <= npx * bpp; i += 16) {
        const __m512i ra = augcli_mix8(ca), rb = augcli_mix8(_mm512_add_epi64(ca, eight));
        __m256i ga[4], gb[4];
        for (int c = 0; c < nc; c++) {
            const __m256i ia = _mm512_cvtepi64_epi32(_mm512_and_si512(_mm512_srli_epi64(ra, NOISE_SHIFT(c)), mask));
            const __m256i ib = _mm512_cvtepi64_epi32(_mm512_and_si512(_mm512_srli_epi64(rb, NOISE_SHIFT(c)), mask));
            const __m512i g = _mm512_i32gather_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(ia), ib, 1), add, 4);
            ga[c] = _mm512_castsi512_si256(g);
            gb[c] = _mm512_extracti64x4_epi64(g, 1);
        }
        augcli_store8(d + i * bpp, noise_apply8(augcli_load8(s + i * bpp, bpp), ga, nc), bpp);
        augcli_store8(d + (i + 8) * bpp, noise_apply8(augcli_load8(s + (i + 8) * bpp, bpp), gb, nc), bpp);
        ca = _mm512_add_epi64(ca, step);
    }
    noise_tail(s, d, i, npx, bpp, nc, add, key);
}

void augcli_noise_simd(int path, const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, const int16_t *add16,
                       uint64_t key)
{
    int32_t add[1 << AUGCLI_NORMAL_BITS]; /* pixel.c's table, widened for 32-bit gathers */
    /* the bands pixel.c's AUGCLI_BY_LAYOUT gives each layout: 1 and 2 bytes one, 3 bytes three */
    nc = bpp <= 2 ? 1 : (bpp == 3 ? 3 : nc);
    for (int k = 0; k < (1 << AUGCLI_NORMAL_BITS); k++)
        add[k] = add16[k];
    if (path == AUGCLI_AVX512)
        noise_avx512(s, d, npx, bpp, nc, add, key);
    else
        noise_avx2(s, d, npx, bpp, nc, add, key);
}
#endif
