/* Lighting's SIMD paths, part of the _pixel module (the scalar build and the rule are pixel.c's
 * lighting: out = u8((c g + 2^31) >> 32), g = g0 + x gx + y gy in 32.32, |g| < 2^55). One AVX2
 * build serves the avx2 and avx512 paths; it computes the same bytes in 32-bit lanes:
 * - clamping g to [0, 2^40] first changes no output: for g < 0, c g + 2^31 < 2^32 so the result is
 *   <= 0 and clamps to 0, as with g = 0; for g > 2^40 and c >= 1 both results are >= 256 (255), and
 *   for c = 0 both are 0.
 * - with 0 <= g <= 2^40, g = G 2^16 + L (G = g >> 16 <= 2^24, L < 2^16): c g + 2^31 = (c G + 2^15)
 *   2^16 + c L, and floor(X / 2^32) = floor(floor(X / 2^16) / 2^16), so the result is (c G + 2^15 +
 *   ((c L) >> 16)) >> 16; c G + 2^15 + ((c L) >> 16) <= 255 2^24 + 2^15 + 254 < 2^32 and c L < 2^24,
 *   so every step is exact in uint32. (tests/test_kernels_lighting_paths.py checks it against the
 *   scalar build, gains past both ends included.) */
#include "pixel.h"

#if AUGCLI_X86
#include "simd8.h"

#define LIGHT_TOP ((int64_t)1 << 40)

/* 4 gains as int64 lanes -> G and L of each, clamped, as the even uint32 of each lane */
AUGCLI_AVX2_INLINE void light_split(__m256i g, __m256i *hi, __m256i *lo)
{
    const __m256i top = _mm256_set1_epi64x(LIGHT_TOP), zero = _mm256_setzero_si256();
    g = _mm256_blendv_epi8(g, zero, _mm256_cmpgt_epi64(zero, g));
    g = _mm256_blendv_epi8(g, top, _mm256_cmpgt_epi64(g, top));
    *hi = _mm256_srli_epi64(g, 16);
    *lo = _mm256_and_si256(g, _mm256_set1_epi64x(0xFFFF));
}

/* two sets of 4 int64 lanes (values < 2^32) as 8 uint32 lanes, a's first */
AUGCLI_AVX2_INLINE __m256i light_narrow(__m256i a, __m256i b)
{
    const __m256i both = _mm256_blend_epi32(a, _mm256_slli_epi64(b, 32), 0xAA);
    return _mm256_permutevar8x32_epi32(both, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

AUGCLI_TARGET_AVX2 static void light_rows(const uint8_t *s, uint8_t *d, int w, int h, int bpp, int nc, int64_t g0,
                                          int64_t gx, int64_t gy)
{
    const size_t total = (size_t)w * h * bpp;
    const __m256i byte = _mm256_set1_epi32(255), half = _mm256_set1_epi32(1 << 15);
    const __m256i colour = _mm256_set1_epi32(nc >= 4 ? -1 : (int)((1u << (8 * nc)) - 1));
    const __m256i four = _mm256_set1_epi64x(4 * gx), eight = _mm256_set1_epi64x(8 * gx);
    for (int y = 0; y < h; y++) {
        const int64_t grow = g0 + (int64_t)y * gy;
        const size_t row = (size_t)y * w * bpp;
        const uint8_t *sr = s + row;
        uint8_t *dr = d + row;
        __m256i ga = _mm256_setr_epi64x(grow, grow + gx, grow + 2 * gx, grow + 3 * gx);
        int x = 0;
        for (; x + 8 <= w && row + (size_t)x * bpp + AUGCLI_READ8(bpp) <= total; x += 8) {
            __m256i ha, la, hb, lb;
            light_split(ga, &ha, &la);
            light_split(_mm256_add_epi64(ga, four), &hb, &lb);
            const __m256i gh = light_narrow(ha, hb), gl = light_narrow(la, lb);
            const __m256i v = augcli_load8(sr + (size_t)x * bpp, bpp);
            __m256i out = _mm256_andnot_si256(colour, v);
            for (int c = 0; c < nc; c++) {
                const __m256i cv = _mm256_and_si256(_mm256_srli_epi32(v, 8 * c), byte);
                const __m256i part = _mm256_srli_epi32(_mm256_mullo_epi32(cv, gl), 16);
                const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(cv, gh), half), part);
                out = _mm256_or_si256(out, _mm256_slli_epi32(_mm256_min_epu32(_mm256_srli_epi32(sum, 16), byte), 8 * c));
            }
            augcli_store8(dr + (size_t)x * bpp, out, bpp);
            ga = _mm256_add_epi64(ga, eight);
        }
        for (; x < w; x++) { /* pixel.c's form */
            const int64_t g = grow + (int64_t)x * gx;
            for (int c = 0; c < nc; c++)
                dr[x * bpp + c] = augcli_u8((sr[x * bpp + c] * g + ((int64_t)1 << 31)) >> 32);
            for (int c = nc; c < bpp; c++)
                dr[x * bpp + c] = sr[x * bpp + c];
        }
    }
}

void augcli_lighting_simd(const uint8_t *s, uint8_t *d, int w, int h, int bpp, int nc, int64_t g0, int64_t gx,
                          int64_t gy)
{
    /* the bands pixel.c's AUGCLI_BY_LAYOUT gives each layout: 1 and 2 bytes one, 3 bytes three */
    nc = bpp <= 2 ? 1 : (bpp == 3 ? 3 : nc);
    light_rows(s, d, w, h, bpp, nc, g0, gx, gy);
}
#endif
