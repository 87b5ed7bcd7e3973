/* ISO noise: luminance-dependent colour noise from a counter-based generator (one hash a pixel). */
#include "pixel.h"

#include "normal_table.h"

#include <string.h>

/* ISO noise: per pixel one hash r = mix64(key + (i + 1) golden) (the noise kernel's generator) and
 * the pixel's luma Y (601 weights 19595, 38470, 7471 / 2^16, rounded; the grey value for L); band c
 * gets round(c + (lum[Y] z0 + chroma[Y] zc) / 2^32), clamped, where z0 (bits 0-11 of r, shared by
 * every band) and zc (bits 12 c + 12 .. 12 c + 23) index the unit normal table (16.16) and lum,
 * chroma are the standard deviations per luma in 16.16, tabulated by augcli.kernels.iso_noise.
 * Ranges, which the SIMD paths rely on: lum, chroma in [0, 2^24] and |z| < 2^18, so each product
 * is below 2^42 in magnitude, the sum below 2^44 fits int64, and the shifted noise term below 2^12
 * fits int32. Pixels i0 .. npx - 1 (the SIMD paths finish their tails here). */
AUGCLI_INLINE void iso_body(const uint8_t *restrict s, uint8_t *restrict d, size_t i0, size_t npx, int bpp, int nc,
                            const int32_t *restrict lum, const int32_t *restrict chroma, uint64_t key)
{
    const int mask = (1 << AUGCLI_NORMAL_BITS) - 1;
    for (size_t i = i0; i < npx; i++) {
        const uint8_t *p = s + i * bpp;
        const int y = nc == 3 ? (int)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16) : p[0];
        const uint64_t r = augcli_mix64(key + (i + 1) * AUGCLI_GOLDEN);
        const int64_t base = (int64_t)lum[y] * augcli_normal_table[r & mask] + ((int64_t)1 << 31);
        for (int c = 0; c < nc; c++) {
            const int64_t z = augcli_normal_table[(r >> (12 * c + 12)) & mask];
            d[i * bpp + c] = augcli_u8((int64_t)p[c] + ((base + chroma[y] * z) >> 32));
        }
        for (int c = nc; c < bpp; c++)
            d[i * bpp + c] = p[c];
    }
}

typedef void (*iso_fn)(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, const int32_t *lum,
                       const int32_t *chroma, uint64_t key);

static void iso_scalar(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc, const int32_t *lum,
                       const int32_t *chroma, uint64_t key)
{
    iso_body(s, d, 0, npx, bpp, nc, lum, chroma, key);
}

#if AUGCLI_X86
#include "simd8.h"

/* The SIMD paths take 8 pixels at a time (simd8.h), run the scalar arithmetic in lanes and write
 * the 8 pixels back; the last pixels go through iso_body. */

/* High 32 bits of a + b + 2^31 per lane, with a, b the int64 products of the int32 lanes
 * (x0 * y0 + x1 * y1 + 2^31) >> 32: the even lanes and the odd lanes as two sets of 4 int64. */
AUGCLI_AVX2_INLINE __m256i iso_term(__m256i x0, __m256i y0, __m256i x1, __m256i y1)
{
    const __m256i half = _mm256_set1_epi64x((int64_t)1 << 31);
    const __m256i even = _mm256_add_epi64(_mm256_add_epi64(_mm256_mul_epi32(x0, y0), half), _mm256_mul_epi32(x1, y1));
    const __m256i odd = _mm256_add_epi64(
        _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x0, 32), _mm256_srli_epi64(y0, 32)), half),
        _mm256_mul_epi32(_mm256_srli_epi64(x1, 32), _mm256_srli_epi64(y1, 32)));
    /* the high dword of an int64 is its arithmetic >> 32 when the result fits int32 (see iso_body) */
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

/* Eight pixels v with their normal draws z0..z3 (int32 lanes): the output pixels. */
AUGCLI_AVX2_INLINE __m256i iso_pixels8(__m256i v, __m256i z0, __m256i z1, __m256i z2, __m256i z3, int nc,
                                       const int32_t *lum, const int32_t *chroma)
{
    const __m256i byte = _mm256_set1_epi32(255), zero = _mm256_setzero_si256();
    const __m256i p0 = _mm256_and_si256(v, byte);
    __m256i y = p0;
    if (nc == 3) {
        const __m256i p1 = _mm256_and_si256(_mm256_srli_epi32(v, 8), byte);
        const __m256i p2 = _mm256_and_si256(_mm256_srli_epi32(v, 16), byte);
        y = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(p0, _mm256_set1_epi32(19595)),
                                              _mm256_mullo_epi32(p1, _mm256_set1_epi32(38470))),
                             _mm256_add_epi32(_mm256_mullo_epi32(p2, _mm256_set1_epi32(7471)),
                                              _mm256_set1_epi32(32768)));
        y = _mm256_srli_epi32(y, 16);
    }
    const __m256i l = _mm256_i32gather_epi32((const int *)lum, y, 4);
    const __m256i ch = _mm256_i32gather_epi32((const int *)chroma, y, 4);
    const __m256i zs[3] = {z1, z2, z3};
    __m256i out = _mm256_andnot_si256(_mm256_set1_epi32(nc == 3 ? 0xFFFFFF : 0xFF), v);
    for (int c = 0; c < nc; c++) {
        const __m256i pc = _mm256_and_si256(_mm256_srli_epi32(v, 8 * c), byte);
        __m256i q = _mm256_add_epi32(pc, iso_term(l, z0, ch, zs[c]));
        q = _mm256_max_epi32(_mm256_min_epi32(q, byte), zero);
        out = _mm256_or_si256(out, _mm256_slli_epi32(q, 8 * c));
    }
    return out;
}

/* normal draw j (bits 12 j .. 12 j + 11) of 4 hashes, as 4 int32 */
AUGCLI_AVX2_INLINE __m128i iso_draw4(__m256i r, int j)
{
    const __m256i idx = _mm256_and_si256(_mm256_srli_epi64(r, 12 * j), _mm256_set1_epi64x(4095));
    return _mm256_i64gather_epi32((const int *)augcli_normal_table, idx, 4);
}

AUGCLI_AVX2_INLINE __m256i iso_draw8(__m256i ra, __m256i rb, int j)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(iso_draw4(ra, j)), iso_draw4(rb, j), 1);
}

AUGCLI_TARGET_AVX2 static void iso_avx2(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc,
                                        const int32_t *lum, const int32_t *chroma, uint64_t key)
{
    const size_t bytes = npx * bpp;
    __m256i ca = augcli_counters4(key);
    const __m256i half = _mm256_set1_epi64x((int64_t)(4 * AUGCLI_GOLDEN)), step = _mm256_set1_epi64x((int64_t)(8 * AUGCLI_GOLDEN));
    size_t i = 0;
    for (; i * bpp + AUGCLI_READ8(bpp) <= bytes; i += 8) {
        const __m256i ra = augcli_mix4(ca), rb = augcli_mix4(_mm256_add_epi64(ca, half));
        const __m256i v = augcli_load8(s + i * bpp, bpp);
        const __m256i out = iso_pixels8(v, iso_draw8(ra, rb, 0), iso_draw8(ra, rb, 1), iso_draw8(ra, rb, 2),
                                        iso_draw8(ra, rb, 3), nc, lum, chroma);
        augcli_store8(d + i * bpp, out, bpp);
        ca = _mm256_add_epi64(ca, step);
    }
    iso_body(s, d, i, npx, bpp, nc, lum, chroma, key);
}

/* AVX-512: 16 pixels a block, the hashes with 64-bit products (vpmullq, AVX-512DQ), the table
 * indices narrowed to 16 int32 lanes so each table is one 16-lane gather */
AUGCLI_AVX512_INLINE __m512i iso_draw16(__m512i ra, __m512i rb, int j)
{
    const __m512i mask = _mm512_set1_epi64(4095);
    const __m256i a = _mm512_cvtepi64_epi32(_mm512_and_si512(_mm512_srli_epi64(ra, 12 * j), mask));
    const __m256i b = _mm512_cvtepi64_epi32(_mm512_and_si512(_mm512_srli_epi64(rb, 12 * j), mask));
    return _mm512_i32gather_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1), augcli_normal_table, 4);
}

/* iso_term on 16 int32 lanes */
AUGCLI_AVX512_INLINE __m512i iso_term16(__m512i x0, __m512i y0, __m512i x1, __m512i y1)
{
    const __m512i half = _mm512_set1_epi64((int64_t)1 << 31);
    const __m512i even = _mm512_add_epi64(_mm512_add_epi64(_mm512_mul_epi32(x0, y0), half), _mm512_mul_epi32(x1, y1));
    const __m512i odd = _mm512_add_epi64(
        _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x0, 32), _mm512_srli_epi64(y0, 32)), half),
        _mm512_mul_epi32(_mm512_srli_epi64(x1, 32), _mm512_srli_epi64(y1, 32)));
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

AUGCLI_TARGET_AVX512 static void iso_avx512(const uint8_t *s, uint8_t *d, size_t npx, int bpp, int nc,
                                            const int32_t *lum, const int32_t *chroma, uint64_t key)
{
    const size_t bytes = npx * bpp;
    __m512i ca = augcli_counters8(key);
    const __m512i eight = _mm512_set1_epi64((int64_t)(8 * AUGCLI_GOLDEN)), step = _mm512_set1_epi64((int64_t)(16 * AUGCLI_GOLDEN));
    const __m512i byte = _mm512_set1_epi32(255), zero = _mm512_setzero_si512();
    size_t i = 0;
    for (; i * bpp + 8 * bpp + AUGCLI_READ8(bpp) <= bytes; i += 16) {
        const __m512i ra = augcli_mix8(ca), rb = augcli_mix8(_mm512_add_epi64(ca, eight));
        const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(augcli_load8(s + i * bpp, bpp)),
                                             augcli_load8(s + (i + 8) * bpp, bpp), 1);
        const __m512i p0 = _mm512_and_si512(v, byte);
        __m512i y = p0;
        if (nc == 3) {
            const __m512i p1 = _mm512_and_si512(_mm512_srli_epi32(v, 8), byte);
            const __m512i p2 = _mm512_and_si512(_mm512_srli_epi32(v, 16), byte);
            y = _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(p0, _mm512_set1_epi32(19595)),
                                                  _mm512_mullo_epi32(p1, _mm512_set1_epi32(38470))),
                                 _mm512_add_epi32(_mm512_mullo_epi32(p2, _mm512_set1_epi32(7471)),
                                                  _mm512_set1_epi32(32768)));
            y = _mm512_srli_epi32(y, 16);
        }
        const __m512i l = _mm512_i32gather_epi32(y, lum, 4), ch = _mm512_i32gather_epi32(y, chroma, 4);
        const __m512i z0 = iso_draw16(ra, rb, 0);
        __m512i out = _mm512_andnot_si512(_mm512_set1_epi32(nc == 3 ? 0xFFFFFF : 0xFF), v);
        for (int c = 0; c < nc; c++) {
            const __m512i pc = _mm512_and_si512(_mm512_srli_epi32(v, 8 * c), byte);
            __m512i q = _mm512_add_epi32(pc, iso_term16(l, z0, ch, iso_draw16(ra, rb, c + 1)));
            q = _mm512_max_epi32(_mm512_min_epi32(q, byte), zero);
            out = _mm512_or_si512(out, _mm512_slli_epi32(q, 8 * c));
        }
        augcli_store8(d + i * bpp, _mm512_castsi512_si256(out), bpp);
        augcli_store8(d + (i + 8) * bpp, _mm512_extracti64x4_epi64(out, 1), bpp);
        ca = _mm512_add_epi64(ca, step);
    }
    iso_body(s, d, i, npx, bpp, nc, lum, chroma, key);
}
#endif

static iso_fn iso_for(int path)
{
#if AUGCLI_X86
    if (path == AUGCLI_AVX512)
        return iso_avx512;
    if (path == AUGCLI_AVX2)
        return iso_avx2;
#endif
    (void)path;
    return iso_scalar;
}

#define ISO_MAX_SIGMA ((int64_t)256 << 16)

PyObject *augcli_py_iso_noise(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer tables;
    unsigned long long key;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiy*K", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &tables, &key))
        return NULL;
    if (augcli_check_pair("iso_noise", &p, 0)) {
        PyBuffer_Release(&tables);
        return NULL;
    }
    int64_t t[512];
    int32_t t32[512]; /* the same sigmas, which fit int32 once checked */
    int bad = tables.len != (Py_ssize_t)sizeof t || (p.nc != 1 && p.nc != 3);
    if (!bad) {
        memcpy(t, tables.buf, sizeof t); /* native-endian int64: 256 luminance, then 256 chroma */
        for (int i = 0; i < 512 && !bad; i++) {
            bad = t[i] < 0 || t[i] > ISO_MAX_SIGMA;
            t32[i] = (int32_t)t[i];
        }
    }
    PyBuffer_Release(&tables);
    if (bad) {
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "iso_noise: 1 or 3 colour bands and 512 int64 sigmas in [0, 2^24]");
        return NULL;
    }
    const int path = augcli_pixel_path;
    Py_BEGIN_ALLOW_THREADS
    iso_for(path)(p.src.buf, p.dst.buf, p.npx, p.bpp, p.nc, t32, t32 + 256, (uint64_t)key);
    Py_END_ALLOW_THREADS
    augcli_release_pair(&p);
    Py_RETURN_NONE;
}
