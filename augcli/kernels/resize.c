/* downscale: what a low-resolution sensor makes of the image, shown at the original size.
 *
 * Shrink (w x h -> sw x sh, 1 <= sw <= w, 1 <= sh <= h) by area averaging: low-res pixel X covers
 * the source interval [X w / sw, (X + 1) w / sw) (likewise in y), and is the average of the source
 * pixels under it, each weighted by the part of it that is covered. In units of 1 / sw of a source
 * pixel, divided by g = gcd(w, sw), every coverage is an integer (a source pixel is S = sw / g units
 * wide, a low-res pixel W = w / g), so the weighted sum V is exact and the low-res value is
 * round(V / (W H)) (half up), computed exactly: one multiply by a reciprocal where that is proven
 * exact, an integer division otherwise. The shrink therefore equals the exact rational area average.
 *
 * Enlarge (sw x sh -> w x h) bilinearly with pixel centres aligned: output x samples the low-res
 * row at u = (x + 1/2) sw / w - 1/2, clamped to [0, sw - 1] (edges replicated), u rounded to 16
 * fraction bits. A horizontal pass per low-res row, kept in units of 2^-8 (uint16):
 * q = (a (2^16 - f) + b f + 2^7) >> 8; then a vertical pass per output row:
 * out = (qa (2^16 - g) + qb g + 2^23) >> 24. Every sum fits in uint32. Power-of-two factors make
 * every fraction a multiple of 2^-5 or coarser, so nothing is lost before the final rounding.
 *
 * Every byte of a pixel is resampled; the non-colour bytes are copied from the source afterwards.
 * Scratch, allocated once per call: the coverage tables, one column-sum row, the low-res image, two
 * horizontally enlarged rows and the interpolation tables.
 *
 * Paths: the scalar one runs the C bodies; AVX2 and AVX-512 run hand-written forms of the column
 * sums, the vertical pass and (4-byte pixels) the horizontal enlargement, which the compiler's
 * vectorisation of the bodies left 2-3x slower, and the compiler's builds of the rest. All compute
 * the integers written above (tests/test_downscale.py checks every path against the scalar one).
 */
#include "pixel.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* let the compiler vectorise the integer loops for each target */
#endif

/* The coverage of one axis: low-res pixel X takes count[X] source pixels from first[X], with the
 * weights wt[at[X] ..] (units of 1 / (sw g)), which sum to W = n / g. */
typedef struct {
    int32_t *first, *count, *at;
    uint32_t *wt;
    uint64_t total; /* W */
    uint32_t unit;  /* S, the weight of a source pixel covered whole */
} coverage;

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int coverage_init(coverage *cv, int64_t n, int64_t m)
{
    const int64_t g = gcd64(n, m), S = m / g, W = n / g;
    cv->first = PyMem_RawMalloc((size_t)m * 3 * sizeof(int32_t));
    cv->wt = PyMem_RawMalloc(((size_t)n + (size_t)m) * sizeof(uint32_t));
    if (!cv->first || !cv->wt)
        return -1;
    cv->count = cv->first + m;
    cv->at = cv->first + 2 * m;
    cv->total = (uint64_t)W;
    cv->unit = (uint32_t)S;
    int64_t at = 0;
    for (int64_t X = 0; X < m; X++) {
        const int64_t lo = X * W, hi = lo + W; /* the low-res pixel's interval, in units */
        const int64_t i0 = lo / S, i1 = (hi + S - 1) / S; /* source pixels i0 .. i1 - 1 overlap it */
        cv->first[X] = (int32_t)i0;
        cv->count[X] = (int32_t)(i1 - i0);
        cv->at[X] = (int32_t)at;
        for (int64_t i = i0; i < i1; i++) {
            const int64_t a = i * S > lo ? i * S : lo, b = (i + 1) * S < hi ? (i + 1) * S : hi;
            cv->wt[at++] = (uint32_t)(b - a);
        }
    }
    return 0;
}

static void coverage_free(coverage *cv)
{
    PyMem_RawFree(cv->first);
    PyMem_RawFree(cv->wt);
}

/* acc = wgt * row (first) or acc += wgt * row, over n bytes. */
AUGCLI_INLINE void colsum_body(const uint8_t *restrict row, uint32_t *restrict acc, size_t n, uint32_t wgt, int first)
{
    if (first) {
        for (size_t j = 0; j < n; j++)
            acc[j] = wgt * row[j];
    } else {
        for (size_t j = 0; j < n; j++)
            acc[j] += wgt * row[j];
    }
}
AUGCLI_DISPATCH(colsum, (const uint8_t *row, uint32_t *acc, size_t n, uint32_t wgt, int first), (row, acc, n, wgt, first))

/* round(V / D) half up for V <= 255 D: x = 2 V + D, q = x / (2 D). With m = ceil(2^s / 2D) and
 * 2^s >= x_max 2D, (x m) >> s == x / 2D for every x <= x_max (the error x (m 2D - 2^s) / 2^s stays
 * below 1 / 2D of a unit); s <= 55 keeps x m below 2^64. */
typedef struct {
    uint64_t D, m;
    int s; /* 0: divide */
} rounder;

static void rounder_init(rounder *r, uint64_t D)
{
    r->D = D;
    r->s = 0;
    r->m = 0;
    if (D > ((uint64_t)1 << 26))
        return;
    const uint64_t need = 1022 * D * D; /* x_max 2D, below 2^62 */
    for (int s = 1; s <= 55; s++) {
        if (((uint64_t)1 << s) >= need) {
            r->s = s;
            r->m = (((uint64_t)1 << s) + 2 * D - 1) / (2 * D);
            return;
        }
    }
}

static inline uint8_t rounder_apply(const rounder *r, uint64_t V)
{
    const uint64_t x = 2 * V + r->D;
    return (uint8_t)(r->s ? (x * r->m) >> r->s : x / (2 * r->D));
}

/* One low-res row from the column sums of its source rows, BPP a constant in each caller. Where
 * 1022 D < 2^32 (`narrow`, with a reciprocal) the sums are uint32 and the rounding a separate pass of
 * 32 x 32-bit products, both of which vectorise; otherwise uint64 sums rounded one by one. */
AUGCLI_INLINE void shrink_k(const uint32_t *restrict acc, uint8_t *restrict out, uint32_t *restrict sums,
                            const coverage *cx, int sw, const int BPP, const rounder *r)
{
    const int narrow = r->s && r->D * 1022 < ((uint64_t)1 << 32);
    for (int X = 0; X < sw; X++) {
        const uint32_t *restrict wt = cx->wt + cx->at[X];
        const uint32_t *restrict a = acc + (size_t)cx->first[X] * BPP;
        const int n = cx->count[X];
        if (narrow) {
            uint32_t *restrict V = sums + (size_t)X * BPP;
            for (int c = 0; c < BPP; c++)
                V[c] = 0;
            for (int i = 0; i < n; i++) {
                const uint32_t wi = wt[i];
                for (int c = 0; c < BPP; c++)
                    V[c] += wi * a[(size_t)i * BPP + c];
            }
        } else {
            uint64_t V[4] = {0, 0, 0, 0};
            for (int i = 0; i < n; i++)
                for (int c = 0; c < BPP; c++)
                    V[c] += (uint64_t)wt[i] * a[(size_t)i * BPP + c];
            for (int c = 0; c < BPP; c++)
                out[(size_t)X * BPP + c] = rounder_apply(r, V[c]);
        }
    }
    if (narrow) {
        const uint32_t D = (uint32_t)r->D, m = (uint32_t)r->m;
        const int sh = r->s;
        const size_t len = (size_t)sw * BPP;
        for (size_t j = 0; j < len; j++)
            out[j] = (uint8_t)(((uint64_t)(2 * sums[j] + D) * m) >> sh);
    }
}

AUGCLI_INLINE void shrink_row_body(const uint32_t *acc, uint8_t *out, uint32_t *sums, const coverage *cx, int sw, int bpp,
                                   const rounder *r)
{
    if (bpp == 4)
        shrink_k(acc, out, sums, cx, sw, 4, r);
    else if (bpp == 3)
        shrink_k(acc, out, sums, cx, sw, 3, r);
    else if (bpp == 2)
        shrink_k(acc, out, sums, cx, sw, 2, r);
    else
        shrink_k(acc, out, sums, cx, sw, 1, r);
}
AUGCLI_DISPATCH(shrink_row, (const uint32_t *acc, uint8_t *out, uint32_t *sums, const coverage *cx, int sw, int bpp,
                             const rounder *r),
                (acc, out, sums, cx, sw, bpp, r))

/* Sample positions of one axis for the enlargement: left (or top) index times step, right index
 * times step, and the right weight in 2^-16. */
static void lerp_table(int n, int m, int step, int32_t *left, int32_t *right, uint32_t *frac)
{
    for (int x = 0; x < n; x++) {
        const int64_t num = (2 * (int64_t)x + 1) * m - n; /* u = num / 2n */
        int64_t U = num <= 0 ? 0 : (num * 65536 + n) / (2 * (int64_t)n);
        int64_t i = U >> 16, f = U & 0xFFFF;
        if (i >= m - 1) {
            i = m - 1;
            f = 0;
        }
        left[x] = (int32_t)(i * step);
        right[x] = (int32_t)((i + (f ? 1 : 0)) * step);
        frac[x] = (uint32_t)f;
    }
}

AUGCLI_INLINE void hup_k(const uint8_t *restrict s, uint16_t *restrict q, int w, const int BPP, const int32_t *restrict left,
                         const int32_t *restrict right, const uint32_t *restrict frac)
{
    for (int x = 0; x < w; x++) {
        const uint8_t *a = s + left[x], *b = s + right[x];
        const uint32_t f = frac[x], e = 65536u - f;
        for (int c = 0; c < BPP; c++)
            q[(size_t)x * BPP + c] = (uint16_t)((a[c] * e + b[c] * f + 128u) >> 8);
    }
}

AUGCLI_INLINE void hup_body(const uint8_t *s, uint16_t *q, int w, int bpp, const int32_t *left, const int32_t *right,
                            const uint32_t *frac)
{
    if (bpp == 4)
        hup_k(s, q, w, 4, left, right, frac);
    else if (bpp == 3)
        hup_k(s, q, w, 3, left, right, frac);
    else if (bpp == 2)
        hup_k(s, q, w, 2, left, right, frac);
    else
        hup_k(s, q, w, 1, left, right, frac);
}
AUGCLI_DISPATCH(hup, (const uint8_t *s, uint16_t *q, int w, int bpp, const int32_t *left, const int32_t *right,
                      const uint32_t *frac),
                (s, q, w, bpp, left, right, frac))

AUGCLI_INLINE void vup_body(const uint16_t *restrict qa, const uint16_t *restrict qb, uint8_t *restrict out, size_t n,
                            uint32_t g)
{
    if (g == 0) { /* (qa 2^16 + 2^23) >> 24 */
        for (size_t j = 0; j < n; j++)
            out[j] = (uint8_t)((qa[j] + 128u) >> 8);
        return;
    }
    const uint32_t e = 65536u - g;
    for (size_t j = 0; j < n; j++)
        out[j] = (uint8_t)((qa[j] * e + qb[j] * g + (1u << 23)) >> 24);
}
AUGCLI_DISPATCH(vup, (const uint16_t *qa, const uint16_t *qb, uint8_t *out, size_t n, uint32_t g), (qa, qb, out, n, g))

#define COLSUM_ROWS 64 /* the most source rows a low-res row sums in one AVX-512 pass (255 x 64 < 2^16) */

#if AUGCLI_X86
#include <immintrin.h>
/* vup on the AVX-512 path in 16-bit lanes: qa e + qb g (< 2^32, e and g < 2^16 once g > 0) from the
 * low and high halves of its 16 x 16-bit products; adding 2^23 and keeping bits 24.. is adding 128
 * to the high halves plus the carry of the low ones and keeping their high byte. The same integers. */
AUGCLI_TARGET_AVX512 static void vup_avx512_words(const uint16_t *qa, const uint16_t *qb, uint8_t *out, size_t n,
                                                  uint32_t g, const uint8_t *src, uint32_t extra)
{
    /* extra: the bytes of 32 (a whole number of 4-byte pixels) to take from the source row instead */
    const __m512i ge = _mm512_set1_epi16((short)g), ee = _mm512_set1_epi16((short)(65536u - g));
    const __m512i half = _mm512_set1_epi16(128), one = _mm512_set1_epi16(1);
    for (size_t j = 0; j < n; j += 32) {
        const int full = n - j >= 32;
        const __mmask32 m = full ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (n - j)) - 1);
        const __m512i a = full ? _mm512_loadu_si512(qa + j) : _mm512_maskz_loadu_epi16(m, qa + j);
        __m512i t;
        if (g == 0) { /* (qa 2^16 + 2^23) >> 24 */
            t = _mm512_srli_epi16(_mm512_add_epi16(a, half), 8);
        } else {
            const __m512i b = full ? _mm512_loadu_si512(qb + j) : _mm512_maskz_loadu_epi16(m, qb + j);
            const __m512i la = _mm512_mullo_epi16(a, ee), lb = _mm512_mullo_epi16(b, ge);
            t = _mm512_add_epi16(_mm512_mulhi_epu16(a, ee), _mm512_mulhi_epu16(b, ge));
            const __mmask32 carry = _mm512_cmplt_epu16_mask(_mm512_add_epi16(la, lb), la);
            t = _mm512_mask_add_epi16(t, carry, t, one);
            t = _mm512_srli_epi16(_mm512_add_epi16(t, half), 8);
        }
        __m256i v = _mm512_cvtepi16_epi8(t);
        if (extra) {
            const __m256i s8 = full ? _mm256_loadu_si256((const __m256i *)(src + j)) : _mm256_maskz_loadu_epi8(m, src + j);
            v = _mm256_mask_blend_epi8((__mmask32)extra, v, s8);
        }
        if (full) /* masked stores only at the end: they are slow on some CPUs */
            _mm256_storeu_si256((__m256i *)(out + j), v);
        else
            _mm256_mask_storeu_epi8(out + j, m, v);
    }
}


/* The column sums of a low-res row on the AVX-512 path: all its source rows at once, 32 bytes a step,
 * the rows of full cover summed unweighted in 16-bit lanes (at most COLSUM_ROWS of them, so no
 * overflow) and multiplied by that cover once, the partly covered ones weighted in 32-bit lanes; the
 * sums stored once. The same integers as colsum. */
AUGCLI_TARGET_AVX512 static void colsum_rows_avx512(const uint8_t *const *rows, const uint32_t *wt, int count,
                                                    uint32_t S, uint32_t *acc, size_t n)
{
    const uint8_t *whole[COLSUM_ROWS], *part[COLSUM_ROWS];
    __m512i pw[COLSUM_ROWS];
    int nw = 0, np = 0;
    for (int i = 0; i < count; i++) {
        if (wt[i] == S) {
            whole[nw++] = rows[i];
        } else {
            pw[np] = _mm512_set1_epi32((int)wt[i]);
            part[np++] = rows[i];
        }
    }
    const __m512i unit = _mm512_set1_epi32((int)S);
    for (size_t j = 0; j < n; j += 32) {
        const int full = n - j >= 32;
        const __mmask32 m = full ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (n - j)) - 1);
        __m512i plain = _mm512_setzero_si512();
        for (int i = 0; i < nw; i++) {
            const __m256i b = full ? _mm256_loadu_si256((const __m256i *)(whole[i] + j)) : _mm256_maskz_loadu_epi8(m, whole[i] + j);
            plain = _mm512_add_epi16(plain, _mm512_cvtepu8_epi16(b));
        }
        __m512i lo = _mm512_mullo_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(plain)), unit);
        __m512i hi = _mm512_mullo_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(plain, 1)), unit);
        for (int i = 0; i < np; i++) {
            const __m256i b = full ? _mm256_loadu_si256((const __m256i *)(part[i] + j)) : _mm256_maskz_loadu_epi8(m, part[i] + j);
            lo = _mm512_add_epi32(lo, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(b)), pw[i]));
            hi = _mm512_add_epi32(hi, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(b, 1)), pw[i]));
        }
        if (full) {
            _mm512_storeu_si512(acc + j, lo);
            _mm512_storeu_si512(acc + j + 16, hi);
        } else {
            _mm512_mask_storeu_epi32(acc + j, (__mmask16)m, lo);
            _mm512_mask_storeu_epi32(acc + j + 16, (__mmask16)(m >> 16), hi);
        }
    }
}

/* hup on the AVX-512 path for 4-byte pixels, 16 output pixels a step: their left and right samples
 * lie within 17 consecutive low-res pixels (the enlargement steps u by at most 1 a pixel), so two
 * loads of 16 pixels and one two-register dword permute each fetch them; then per 4 pixels the
 * bytes widened to 32 bits and a (2^16 - f) + b f + 2^7 >> 8 as in hup_k. The same integers. */
AUGCLI_TARGET_AVX512 static void hup_px4_avx512(const uint8_t *s, int sw, uint16_t *q, int w, const int32_t *left,
                                                const int32_t *right, const uint32_t *frac)
{
    __m512i spread[4]; /* lane i of quarter k takes pixel 4k + i / 4 */
    for (int k = 0; k < 4; k++)
        spread[k] = _mm512_set_epi32(4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 2, 4 * k + 2, 4 * k + 2,
                                     4 * k + 2, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k, 4 * k, 4 * k, 4 * k);
    const __m512i full = _mm512_set1_epi32(65536), half = _mm512_set1_epi32(128);
    for (int x0 = 0; x0 < w; x0 += 16) {
        const int cnt = w - x0 < 16 ? w - x0 : 16;
        const __mmask16 m = (__mmask16)(cnt == 16 ? 0xFFFFu : (1u << cnt) - 1);
        const int32_t base = left[x0];
        const __m512i b0 = _mm512_set1_epi32(base);
        const __m512i ia = _mm512_srli_epi32(_mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, left + x0), b0), 2);
        const __m512i ib = _mm512_srli_epi32(_mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, right + x0), b0), 2);
        const int avail = sw - base / 4; /* low-res pixels from base to the row's end */
        const __m512i lo = _mm512_maskz_loadu_epi32((__mmask16)(avail >= 16 ? 0xFFFFu : (1u << avail) - 1), s + base);
        const __m512i hi = avail > 16 ? _mm512_maskz_loadu_epi32(
                                            (__mmask16)(avail >= 32 ? 0xFFFFu : (1u << (avail - 16)) - 1), s + base + 64)
                                      : _mm512_setzero_si512();
        const __m512i A = _mm512_permutex2var_epi32(lo, ia, hi), B = _mm512_permutex2var_epi32(lo, ib, hi);
        const __m512i F = _mm512_maskz_loadu_epi32(m, frac + x0), E = _mm512_sub_epi32(full, F);
        {
            __m128i qa[4] = {_mm512_extracti32x4_epi32(A, 0), _mm512_extracti32x4_epi32(A, 1),
                             _mm512_extracti32x4_epi32(A, 2), _mm512_extracti32x4_epi32(A, 3)};
            __m128i qb[4] = {_mm512_extracti32x4_epi32(B, 0), _mm512_extracti32x4_epi32(B, 1),
                             _mm512_extracti32x4_epi32(B, 2), _mm512_extracti32x4_epi32(B, 3)};
            for (int k = 0; k < 4 && 4 * k < cnt; k++) {
                const __m512i a = _mm512_cvtepu8_epi32(qa[k]), b = _mm512_cvtepu8_epi32(qb[k]);
                const __m512i f = _mm512_permutexvar_epi32(spread[k], F), e = _mm512_permutexvar_epi32(spread[k], E);
                const __m512i v = _mm512_srli_epi32(
                    _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(a, e), _mm512_mullo_epi32(b, f)), half), 8);
                const int px = cnt - 4 * k < 4 ? cnt - 4 * k : 4;
                uint16_t *dst = q + 4 * ((size_t)x0 + 4 * (size_t)k);
                if (px == 4)
                    _mm256_storeu_si256((__m256i *)dst, _mm512_cvtepi32_epi16(v));
                else
                    _mm256_mask_storeu_epi16(dst, (__mmask16)((1u << (4 * px)) - 1), _mm512_cvtepi32_epi16(v));
            }
        }
    }
}

/* The AVX2 forms of the three AVX-512 loops above (the same integers): column sums 16 bytes a step,
 * the vertical interpolation 32 bytes a step, the horizontal enlargement of 4-byte pixels 8 pixels a
 * step (their samples within 9 consecutive low-res pixels: two one-register permutes and a blend);
 * the ends of a row in scalar code. */
AUGCLI_TARGET_AVX2 static void colsum_rows_avx2(const uint8_t *const *rows, const uint32_t *wt, int count, uint32_t S,
                                                uint32_t *acc, size_t n)
{
    const uint8_t *whole[COLSUM_ROWS], *part[COLSUM_ROWS];
    __m256i pw[COLSUM_ROWS];
    int nw = 0, np = 0;
    for (int i = 0; i < count; i++) {
        if (wt[i] == S) {
            whole[nw++] = rows[i];
        } else {
            pw[np] = _mm256_set1_epi32((int)wt[i]);
            part[np++] = rows[i];
        }
    }
    const __m256i unit = _mm256_set1_epi32((int)S);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256i plain = _mm256_setzero_si256();
        for (int i = 0; i < nw; i++)
            plain = _mm256_add_epi16(plain, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(whole[i] + j))));
        __m256i lo = _mm256_mullo_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(plain)), unit);
        __m256i hi = _mm256_mullo_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(plain, 1)), unit);
        for (int i = 0; i < np; i++) {
            const __m128i b = _mm_loadu_si128((const __m128i *)(part[i] + j));
            lo = _mm256_add_epi32(lo, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b), pw[i]));
            hi = _mm256_add_epi32(hi, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)), pw[i]));
        }
        _mm256_storeu_si256((__m256i *)(acc + j), lo);
        _mm256_storeu_si256((__m256i *)(acc + j + 8), hi);
    }
    for (; j < n; j++) {
        uint32_t v = 0;
        for (int i = 0; i < count; i++)
            v += wt[i] * rows[i][j];
        acc[j] = v;
    }
}

AUGCLI_TARGET_AVX2 static void vup_avx2_words(const uint16_t *qa, const uint16_t *qb, uint8_t *out, size_t n, uint32_t g,
                                              const uint8_t *src, uint32_t extra)
{
    const __m256i ge = _mm256_set1_epi16((short)g), ee = _mm256_set1_epi16((short)(65536u - g));
    const __m256i half = _mm256_set1_epi16(128), one = _mm256_set1_epi16(1);
    uint8_t keep_bytes[32];
    for (int i = 0; i < 32; i++)
        keep_bytes[i] = (extra >> i) & 1u ? 0xFF : 0;
    const __m256i keep = _mm256_loadu_si256((const __m256i *)keep_bytes);
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256i t[2];
        for (int k = 0; k < 2; k++) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(qa + j + 16 * k));
            if (g == 0) {
                t[k] = _mm256_srli_epi16(_mm256_add_epi16(a, half), 8);
                continue;
            }
            const __m256i b = _mm256_loadu_si256((const __m256i *)(qb + j + 16 * k));
            const __m256i la = _mm256_mullo_epi16(a, ee), ls = _mm256_add_epi16(la, _mm256_mullo_epi16(b, ge));
            const __m256i nocarry = _mm256_cmpeq_epi16(_mm256_max_epu16(ls, la), ls); /* -1 where ls >= la */
            __m256i u = _mm256_add_epi16(_mm256_mulhi_epu16(a, ee), _mm256_mulhi_epu16(b, ge));
            u = _mm256_add_epi16(_mm256_add_epi16(u, one), nocarry);
            t[k] = _mm256_srli_epi16(_mm256_add_epi16(u, half), 8);
        }
        __m256i v = _mm256_permute4x64_epi64(_mm256_packus_epi16(t[0], t[1]), 0xD8);
        if (extra)
            v = _mm256_blendv_epi8(v, _mm256_loadu_si256((const __m256i *)(src + j)), keep);
        _mm256_storeu_si256((__m256i *)(out + j), v);
    }
    const uint32_t e = 65536u - g;
    for (; j < n; j++)
        out[j] = (extra >> (j % 32)) & 1u ? src[j] : (uint8_t)((qa[j] * e + qb[j] * g + (1u << 23)) >> 24);
}

AUGCLI_TARGET_AVX2 static void hup_px4_avx2(const uint8_t *s, int sw, uint16_t *q, int w, const int32_t *left,
                                            const int32_t *right, const uint32_t *frac)
{
    __m256i spread[4]; /* lane i of step k takes pixel 2k + i / 4 */
    for (int k = 0; k < 4; k++)
        spread[k] = _mm256_set_epi32(2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k, 2 * k, 2 * k, 2 * k);
    const __m256i full = _mm256_set1_epi32(65536), half = _mm256_set1_epi32(128), seven = _mm256_set1_epi32(7);
    const __m256i lanes = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    int x0 = 0;
    for (; x0 + 8 <= w; x0 += 8) {
        const int32_t base = left[x0];
        const __m256i b0 = _mm256_set1_epi32(base);
        const __m256i ia = _mm256_srli_epi32(_mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(left + x0)), b0), 2);
        const __m256i ib = _mm256_srli_epi32(_mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(right + x0)), b0), 2);
        const int avail = sw - base / 4; /* low-res pixels from base to the row's end */
        const __m256i lo = _mm256_maskload_epi32((const int *)(s + base), _mm256_cmpgt_epi32(_mm256_set1_epi32(avail), lanes));
        const __m256i hi = avail > 8 ? _mm256_maskload_epi32((const int *)(s + base + 32),
                                                             _mm256_cmpgt_epi32(_mm256_set1_epi32(avail - 8), lanes))
                                     : _mm256_setzero_si256();
        const __m256i A = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(lo, ia), _mm256_permutevar8x32_epi32(hi, ia),
                                             _mm256_cmpgt_epi32(ia, seven));
        const __m256i B = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(lo, ib), _mm256_permutevar8x32_epi32(hi, ib),
                                             _mm256_cmpgt_epi32(ib, seven));
        const __m256i F = _mm256_loadu_si256((const __m256i *)(frac + x0)), E = _mm256_sub_epi32(full, F);
        const __m128i ah[2] = {_mm256_castsi256_si128(A), _mm256_extracti128_si256(A, 1)};
        const __m128i bh[2] = {_mm256_castsi256_si128(B), _mm256_extracti128_si256(B, 1)};
        for (int k = 0; k < 4; k++) {
            const __m128i a8 = k & 1 ? _mm_srli_si128(ah[k >> 1], 8) : ah[k >> 1];
            const __m128i b8 = k & 1 ? _mm_srli_si128(bh[k >> 1], 8) : bh[k >> 1];
            const __m256i f = _mm256_permutevar8x32_epi32(F, spread[k]), e = _mm256_permutevar8x32_epi32(E, spread[k]);
            const __m256i v = _mm256_srli_epi32(
                _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvtepu8_epi32(a8), e),
                                                  _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b8), f)),
                                 half),
                8);
            const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
            _mm_storeu_si128((__m128i *)(q + 4 * ((size_t)x0 + 2 * (size_t)k)), _mm256_castsi256_si128(packed));
        }
    }
    for (; x0 < w; x0++) {
        const uint8_t *a = s + left[x0], *b = s + right[x0];
        const uint32_t f = frac[x0], e = 65536u - f;
        for (int c = 0; c < 4; c++)
            q[(size_t)x0 * 4 + c] = (uint16_t)((a[c] * e + b[c] * f + 128u) >> 8);
    }
}
#endif

/* The non-colour bytes back from the source; RGBX/RGBA as whole 32-bit words with a mask, which
 * the compiler vectorises. */
AUGCLI_INLINE void copy_extra_body(const uint8_t *src, uint8_t *dst, size_t npx, int bpp, int nc)
{
    if (bpp == 4 && nc == 3) {
        const uint8_t mb[4] = {0, 0, 0, 0xFF};
        uint32_t m, a, b;
        memcpy(&m, mb, 4);
        for (size_t i = 0; i < npx; i++) {
            memcpy(&a, src + i * 4, 4);
            memcpy(&b, dst + i * 4, 4);
            b = (b & ~m) | (a & m);
            memcpy(dst + i * 4, &b, 4);
        }
    } else {
        augcli_copy_extra(src, dst, npx, bpp, nc);
    }
}
AUGCLI_DISPATCH(copy_extra, (const uint8_t *src, uint8_t *dst, size_t npx, int bpp, int nc), (src, dst, npx, bpp, nc))

typedef struct {
    coverage cx, cy;
    uint32_t *acc, *sums;
    uint8_t *small;
    uint16_t *q[2];
    int32_t *ix; /* left x, right x, top y, bottom y */
    uint32_t *fx, *fy;
} downscale_scratch;

static void scratch_free(downscale_scratch *t)
{
    coverage_free(&t->cx);
    coverage_free(&t->cy);
    PyMem_RawFree(t->acc);
    PyMem_RawFree(t->sums);
    PyMem_RawFree(t->small);
    PyMem_RawFree(t->q[0]);
    PyMem_RawFree(t->ix);
    PyMem_RawFree(t->fx);
}

static void run_downscale(const uint8_t *src, uint8_t *dst, int w, int h, int bpp, int nc, int sw, int sh,
                          downscale_scratch *t, const rounder *r, int path)
{
    const size_t n = (size_t)w * bpp, sn = (size_t)sw * bpp;
    const colsum_fn colsum = colsum_for(path);
    const hup_fn hup = hup_for(path);
    const vup_fn vup = vup_for(path);
    const shrink_row_fn shrink_row = shrink_row_for(path);
    const copy_extra_fn copy_extra = copy_extra_for(path);
    for (int Y = 0; Y < sh; Y++) {
        const uint32_t *wt = t->cy.wt + t->cy.at[Y];
#if AUGCLI_X86
        if (path != AUGCLI_SCALAR && t->cy.count[Y] <= COLSUM_ROWS) {
            const uint8_t *rows[COLSUM_ROWS];
            for (int i = 0; i < t->cy.count[Y]; i++)
                rows[i] = src + (size_t)(t->cy.first[Y] + i) * n;
            (path == AUGCLI_AVX512 ? colsum_rows_avx512 : colsum_rows_avx2)(rows, wt, t->cy.count[Y], t->cy.unit, t->acc, n);
        } else
#endif
            for (int i = 0; i < t->cy.count[Y]; i++)
                colsum(src + (size_t)(t->cy.first[Y] + i) * n, t->acc, n, wt[i], i == 0);
        shrink_row(t->acc, t->small + (size_t)Y * sn, t->sums, &t->cx, sw, bpp, r);
    }
    const int32_t *left = t->ix, *right = t->ix + w, *top = t->ix + 2 * (size_t)w, *bottom = top + h;
    int held[2] = {-1, -1}; /* the low-res row each enlarged row holds */
    for (int y = 0; y < h; y++) {
        const uint16_t *rows[2];
        const int want[2] = {top[y], bottom[y]};
        for (int k = 0; k < 2; k++) {
            int slot = held[0] == want[k] ? 0 : (held[1] == want[k] ? 1 : -1);
            if (slot < 0) { /* enlarge it into the slot the other sample does not use */
                slot = held[0] == want[1 - k] ? 1 : 0;
#if AUGCLI_X86
                if (path != AUGCLI_SCALAR && bpp == 4)
                    (path == AUGCLI_AVX512 ? hup_px4_avx512 : hup_px4_avx2)(t->small + (size_t)want[k] * sn, sw,
                                                                            t->q[slot], w, left, right, t->fx);
                else
#endif
                    hup(t->small + (size_t)want[k] * sn, t->q[slot], w, bpp, left, right, t->fx);
                held[slot] = want[k];
            }
            rows[k] = t->q[slot];
        }
#if AUGCLI_X86
        if (path != AUGCLI_SCALAR) { /* 4-byte pixels: the non-colour bytes restored in the same pass */
            const uint32_t nibble = (0xFu << nc) & 0xFu, extra = bpp == 4 ? nibble * 0x11111111u : 0;
            (path == AUGCLI_AVX512 ? vup_avx512_words : vup_avx2_words)(rows[0], rows[1], dst + (size_t)y * n, n,
                                                                        t->fy[y], src + (size_t)y * n, extra);
            if (bpp != 4)
                copy_extra(src + (size_t)y * n, dst + (size_t)y * n, (size_t)w, bpp, nc);
            continue;
        }
#endif
        vup(rows[0], rows[1], dst + (size_t)y * n, n, t->fy[y]);
        copy_extra(src + (size_t)y * n, dst + (size_t)y * n, (size_t)w, bpp, nc);
    }
}

PyObject *augcli_py_downscale(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    int sw, sh;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiii", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &sw, &sh))
        return NULL;
    if (augcli_check_pair("downscale", &p, 0))
        return NULL;
    const int w = p.w, h = p.h;
    /* the column sums (255 H) must fit in uint32 and the sums of a low-res pixel (255 W H) in uint64 */
    const uint64_t W = (uint64_t)w / (uint64_t)(sw > 0 ? gcd64(w, sw) : 1);
    const uint64_t H = (uint64_t)h / (uint64_t)(sh > 0 ? gcd64(h, sh) : 1);
    if (sw < 1 || sw > w || sh < 1 || sh > h || 255 * H >= ((uint64_t)1 << 32) || W * H >= ((uint64_t)1 << 48)) {
        PyErr_Format(PyExc_ValueError, "downscale: cannot shrink %dx%d to %dx%d (1 to the size on each side)", w, h, sw,
                     sh);
        augcli_release_pair(&p);
        return NULL;
    }
    downscale_scratch t;
    memset(&t, 0, sizeof t);
    const size_t n = (size_t)w * p.bpp;
    int bad = coverage_init(&t.cx, w, sw) || coverage_init(&t.cy, h, sh);
    t.acc = PyMem_RawMalloc(n * sizeof(uint32_t));
    t.sums = PyMem_RawMalloc((size_t)sw * p.bpp * sizeof(uint32_t));
    t.small = PyMem_RawMalloc((size_t)sw * sh * p.bpp);
    t.q[0] = PyMem_RawMalloc(2 * n * sizeof(uint16_t));
    t.ix = PyMem_RawMalloc(2 * ((size_t)w + h) * sizeof(int32_t));
    t.fx = PyMem_RawMalloc(((size_t)w + h) * sizeof(uint32_t));
    if (bad || !t.acc || !t.sums || !t.small || !t.q[0] || !t.ix || !t.fx) {
        scratch_free(&t);
        augcli_release_pair(&p);
        return PyErr_NoMemory();
    }
    t.q[1] = t.q[0] + n;
    t.fy = t.fx + w;
    lerp_table(w, sw, p.bpp, t.ix, t.ix + w, t.fx);
    lerp_table(h, sh, 1, t.ix + 2 * (size_t)w, t.ix + 2 * (size_t)w + h, t.fy);
    rounder r;
    rounder_init(&r, W * H);
    const int path = augcli_pixel_path;
    Py_BEGIN_ALLOW_THREADS
    run_downscale(p.src.buf, p.dst.buf, w, h, p.bpp, p.nc, sw, sh, &t, &r, path);
    Py_END_ALLOW_THREADS
    scratch_free(&t);
    augcli_release_pair(&p);
    Py_RETURN_NONE;
}
