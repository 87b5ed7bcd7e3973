/* Median filters of 8-bit images, part of the _pixel module (moved out of filters.c, whose window
 * rows they read: augcli_window_*): a comparator network on every byte for any odd k up to
 * MEDIAN_MAX_K, k = 3 by sorted columns (in registers on the SIMD paths), k = 5 and 7 in four
 * stages, two rows at a time. Exact: scipy.ndimage.median_filter with mode "nearest". */
#include "pixel.h"

#include <string.h>

#include "median_networks.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* let the compiler vectorise the byte loops for each target */
#endif

/* Copy the non-colour bytes of one row back from the source (the filters compute every byte). */
AUGCLI_INLINE void copy_extra_row_body(const uint8_t *src, uint8_t *dst, int w, int bpp, int nc)
{
    if (bpp == nc)
        return;
    if (bpp == 4 && nc == 3) { /* whole 32-bit words with a mask: this loop vectorises */
        const uint8_t mb[4] = {0, 0, 0, 0xFF};
        uint32_t m, a, b;
        memcpy(&m, mb, 4);
        for (int i = 0; i < w; i++) {
            memcpy(&a, src + (size_t)i * 4, 4);
            memcpy(&b, dst + (size_t)i * 4, 4);
            b = (b & ~m) | (a & m);
            memcpy(dst + (size_t)i * 4, &b, 4);
        }
        return;
    }
    augcli_copy_extra(src, dst, (size_t)w, bpp, nc);
}
AUGCLI_DISPATCH(copy_extra_row, (const uint8_t *src, uint8_t *dst, int w, int bpp, int nc), (src, dst, w, bpp, nc))

void augcli_row_copy_extra(const uint8_t *src, uint8_t *dst, int w, int bpp, int nc)
{
    copy_extra_row_scalar(src, dst, w, bpp, nc);
}

/* median: a comparator network (pairs of slots, min to the first) run on every byte of a block of
 * the row at once; the k^2 slots hold the window's values, slot i k + j the one at offset
 * (j - r, i - r). The network (augcli.kernels.median_network) leaves the median in one slot. */
#define MEDIAN_BLOCK 1024 /* bytes of a row per pass: k^2 slots of them stay in the L1/L2 cache */
#define MEDIAN_MAX_K 15

AUGCLI_INLINE void network_body(uint8_t *slots, size_t stride, size_t n, const uint16_t *net, int ncmp)
{
    for (int c = 0; c < ncmp; c++) {
        uint8_t *restrict a = slots + net[2 * c] * stride;
        uint8_t *restrict b = slots + net[2 * c + 1] * stride;
        for (size_t j = 0; j < n; j++) {
            const uint8_t x = a[j], y = b[j];
            a[j] = x < y ? x : y;
            b[j] = x < y ? y : x;
        }
    }
}
AUGCLI_DISPATCH(network, (uint8_t *slots, size_t stride, size_t n, const uint16_t *net, int ncmp),
                (slots, stride, n, net, ncmp))

/* One comparator of the generated networks (median_networks.h) on one byte: min to a, max to b. */
#define MEDIAN_CMPX(a, b)                                                                              \
    do {                                                                                               \
        const uint8_t lo_ = (a) < (b) ? (a) : (b);                                                     \
        (b) = (a) < (b) ? (b) : (a);                                                                   \
        (a) = lo_;                                                                                     \
    } while (0)

/* k = 3 by sorted columns: the median of the window is med3(max of the column minima, med3 of the
 * column middles, min of the column maxima), which is exact (the classic 3 x 3 decomposition). Each
 * column of 3 is sorted once into a block of the row and shared by the three windows that hold it:
 * 6 min/max per byte for the sort, 12 for the selection. */
#define MIN8(a, b) ((a) < (b) ? (a) : (b))
#define MAX8(a, b) ((a) < (b) ? (b) : (a))
#define MEDIAN3_BLOCK 2048
#define MEDIAN3_SPAN (MEDIAN3_BLOCK + 8) /* a block plus one column of up to 4 bytes on each side */

AUGCLI_INLINE void median3_colsort(const uint8_t *restrict a, const uint8_t *restrict b, const uint8_t *restrict c,
                                   uint8_t *restrict lo, uint8_t *restrict mid, uint8_t *restrict hi, size_t cols)
{
    for (size_t j = 0; j < cols; j++) {
        const uint8_t x = a[j], y = b[j], z = c[j];
        const uint8_t l = MIN8(x, y), h = MAX8(x, y);
        lo[j] = MIN8(l, z);
        hi[j] = MAX8(h, z);
        mid[j] = MAX8(l, MIN8(h, z));
    }
}

AUGCLI_INLINE void median3_select(const uint8_t *restrict lo, const uint8_t *restrict mid, const uint8_t *restrict hi,
                                  uint8_t *restrict out, size_t len, size_t o1)
{
    const size_t o2 = 2 * o1;
    for (size_t j = 0; j < len; j++) {
        const uint8_t p = MAX8(MAX8(lo[j], lo[j + o1]), lo[j + o2]);
        const uint8_t r = MIN8(MIN8(hi[j], hi[j + o1]), hi[j + o2]);
        const uint8_t m0 = mid[j], m1 = mid[j + o1], m2 = mid[j + o2];
        const uint8_t q = MAX8(MIN8(m0, m1), MIN8(MAX8(m0, m1), m2));
        out[j] = MAX8(MIN8(p, q), MIN8(MAX8(p, q), r));
    }
}

/* The rows above, at and below (clamped) the output row, unpadded: the sorted columns of a block of
 * the row and of one pixel on each side, the edge pixels' columns replicated outwards. */
AUGCLI_INLINE void median3_body(const uint8_t *const *rows, uint8_t *restrict out, size_t n, int bpp)
{
    uint8_t lo[MEDIAN3_SPAN], mid[MEDIAN3_SPAN], hi[MEDIAN3_SPAN];
    const size_t b = (size_t)bpp, block = MEDIAN3_BLOCK - MEDIAN3_BLOCK % b; /* whole pixels */
    for (size_t j0 = 0; j0 < n; j0 += block) {
        const size_t len = n - j0 < block ? n - j0 : block;
        /* block slot i holds column j0 - b + i; the source has columns c0 .. c1 - 1 of them */
        const size_t c0 = j0 == 0 ? 0 : j0 - b, c1 = j0 + len + b < n ? j0 + len + b : n;
        const size_t at = c0 + b - j0;
        median3_colsort(rows[0] + c0, rows[1] + c0, rows[2] + c0, lo + at, mid + at, hi + at, c1 - c0);
        if (j0 == 0) {
            memcpy(lo, lo + b, b);
            memcpy(mid, mid + b, b);
            memcpy(hi, hi + b, b);
        }
        if (j0 + len == n) {
            const size_t last = n - j0; /* the slot of the last pixel */
            memcpy(lo + last + b, lo + last, b);
            memcpy(mid + last + b, mid + last, b);
            memcpy(hi + last + b, hi + last, b);
        }
        median3_select(lo, mid, hi, out + j0, len, b);
    }
}
AUGCLI_DISPATCH(median3, (const uint8_t *const *rows, uint8_t *out, size_t n, int bpp), (rows, out, n, bpp))

#if AUGCLI_X86
#include <immintrin.h>
/* The same on the AVX-512 path for 4-byte pixels, in registers: 16 pixels a vector, each column of
 * the three rows sorted once, its neighbours' sorted columns brought in by one dword align per
 * vector (no stores and reloads of the sorted columns, which bound the block form); the edge pixels
 * replicated by blending the last pixel over the lanes past the end and broadcasting the first and
 * last ones as the outside neighbours. Loads and stores past the row are masked off. The same
 * min/max network as median3_select, so the same bytes. */
typedef struct {
    __m512i lo, mid, hi;
} sorted3;

AUGCLI_TARGET_AVX512 static inline sorted3 sort3_512(__m512i x, __m512i y, __m512i z)
{
    const __m512i l = _mm512_min_epu8(x, y), h = _mm512_max_epu8(x, y);
    sorted3 s = {_mm512_min_epu8(l, z), _mm512_max_epu8(l, _mm512_min_epu8(h, z)), _mm512_max_epu8(h, z)};
    return s;
}

/* The sorted columns of pixels i .. i + 15 (of w), lanes past the last pixel holding the last pixel. */
AUGCLI_TARGET_AVX512 static inline sorted3 load_sorted(const uint8_t *const *rows, size_t i, size_t w, __m512i *centre)
{
    const size_t left = w - i;
    const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    if (left >= 16) {
        const __m512i y = _mm512_loadu_si512(rows[1] + 4 * i);
        *centre = y;
        return sort3_512(_mm512_loadu_si512(rows[0] + 4 * i), y, _mm512_loadu_si512(rows[2] + 4 * i));
    }
    __m512i x = _mm512_maskz_loadu_epi32(m, rows[0] + 4 * i);
    __m512i y = _mm512_maskz_loadu_epi32(m, rows[1] + 4 * i);
    __m512i z = _mm512_maskz_loadu_epi32(m, rows[2] + 4 * i);
    *centre = y;
    {
        const __m512i last = _mm512_set1_epi32((int)left - 1);
        x = _mm512_mask_blend_epi32(m, _mm512_permutexvar_epi32(last, x), x);
        y = _mm512_mask_blend_epi32(m, _mm512_permutexvar_epi32(last, y), y);
        z = _mm512_mask_blend_epi32(m, _mm512_permutexvar_epi32(last, z), z);
    }
    return sort3_512(x, y, z);
}

AUGCLI_TARGET_AVX512 static inline sorted3 broadcast_lane(sorted3 s, int lane)
{
    const __m512i idx = _mm512_set1_epi32(lane);
    sorted3 b = {_mm512_permutexvar_epi32(idx, s.lo), _mm512_permutexvar_epi32(idx, s.mid),
                 _mm512_permutexvar_epi32(idx, s.hi)};
    return b;
}

AUGCLI_TARGET_AVX512 static void median3_px4_avx512(const uint8_t *const *rows, uint8_t *out, size_t w, int nc)
{
    const uint64_t nibble = (0xFu << nc) & 0xFu; /* the non-colour bytes of a pixel */
    const __mmask64 extra = (__mmask64)(nibble * 0x1111111111111111ULL);
    __m512i centre, centre_next;
    sorted3 cur = load_sorted(rows, 0, w, &centre);
    sorted3 prev = broadcast_lane(cur, 0);
    for (size_t i = 0; i < w; i += 16) {
        const sorted3 next = i + 16 < w ? load_sorted(rows, i + 16, w, &centre_next) : broadcast_lane(cur, 15);
        const __m512i p = _mm512_max_epu8(_mm512_max_epu8(_mm512_alignr_epi32(cur.lo, prev.lo, 15), cur.lo),
                                          _mm512_alignr_epi32(next.lo, cur.lo, 1));
        const __m512i r = _mm512_min_epu8(_mm512_min_epu8(_mm512_alignr_epi32(cur.hi, prev.hi, 15), cur.hi),
                                          _mm512_alignr_epi32(next.hi, cur.hi, 1));
        const __m512i m0 = _mm512_alignr_epi32(cur.mid, prev.mid, 15), m2 = _mm512_alignr_epi32(next.mid, cur.mid, 1);
        const __m512i q = _mm512_max_epu8(_mm512_min_epu8(m0, cur.mid),
                                          _mm512_min_epu8(_mm512_max_epu8(m0, cur.mid), m2));
        __m512i v = _mm512_max_epu8(_mm512_min_epu8(p, q), _mm512_min_epu8(_mm512_max_epu8(p, q), r));
        v = _mm512_mask_blend_epi8(extra, v, centre);
        const size_t left = w - i;
        if (left >= 16) /* masked stores only at the end: they are slow on some CPUs */
            _mm512_storeu_si512(out + 4 * i, v);
        else
            _mm512_mask_storeu_epi32(out + 4 * i, (__mmask16)((1u << left) - 1), v);
        prev = cur;
        cur = next;
        centre = centre_next;
    }
}

/* The AVX2 form: 8 pixels a vector; a neighbour's sorted columns brought in by one lane permute
 * (shared by two neighbouring vectors) and one byte align per direction. */
typedef struct {
    __m256i lo, mid, hi;
} sorted3x8;

AUGCLI_TARGET_AVX2 static inline sorted3x8 load_sorted8(const uint8_t *const *rows, size_t i, size_t w, __m256i *centre)
{
    const size_t left = w - i;
    __m256i x, y, z;
    if (left >= 8) {
        x = _mm256_loadu_si256((const __m256i *)(rows[0] + 4 * i));
        y = _mm256_loadu_si256((const __m256i *)(rows[1] + 4 * i));
        z = _mm256_loadu_si256((const __m256i *)(rows[2] + 4 * i));
    } else {
        const __m256i lanes = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), n = _mm256_set1_epi32((int)left);
        const __m256i m = _mm256_cmpgt_epi32(n, lanes), last = _mm256_set1_epi32((int)left - 1);
        x = _mm256_maskload_epi32((const int *)(rows[0] + 4 * i), m);
        y = _mm256_maskload_epi32((const int *)(rows[1] + 4 * i), m);
        z = _mm256_maskload_epi32((const int *)(rows[2] + 4 * i), m);
        *centre = y;
        x = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(x, last), x, m);
        y = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(y, last), y, m);
        z = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(z, last), z, m);
        const __m256i l = _mm256_min_epu8(x, y), h = _mm256_max_epu8(x, y);
        sorted3x8 s = {_mm256_min_epu8(l, z), _mm256_max_epu8(l, _mm256_min_epu8(h, z)), _mm256_max_epu8(h, z)};
        return s;
    }
    *centre = y;
    const __m256i l = _mm256_min_epu8(x, y), h = _mm256_max_epu8(x, y);
    sorted3x8 s = {_mm256_min_epu8(l, z), _mm256_max_epu8(l, _mm256_min_epu8(h, z)), _mm256_max_epu8(h, z)};
    return s;
}

AUGCLI_TARGET_AVX2 static void median3_px4_avx2(const uint8_t *const *rows, uint8_t *out, size_t w, int nc)
{
    uint8_t keep_bytes[32];
    for (int i = 0; i < 32; i++)
        keep_bytes[i] = i % 4 >= nc ? 0xFF : 0;
    const __m256i keep = _mm256_loadu_si256((const __m256i *)keep_bytes);
    const __m256i first = _mm256_setzero_si256(), last = _mm256_set1_epi32(7);
    __m256i centre, centre_next = _mm256_setzero_si256();
    sorted3x8 cur = load_sorted8(rows, 0, w, &centre);
    /* [pixel -1's columns, pixel 0's...] halves: the previous vector's high half beside this one's low */
    sorted3x8 prev = {_mm256_permutevar8x32_epi32(cur.lo, first), _mm256_permutevar8x32_epi32(cur.mid, first),
                      _mm256_permutevar8x32_epi32(cur.hi, first)};
    __m256i jl = _mm256_permute2x128_si256(prev.lo, cur.lo, 0x21), jm = _mm256_permute2x128_si256(prev.mid, cur.mid, 0x21),
            jh = _mm256_permute2x128_si256(prev.hi, cur.hi, 0x21);
    for (size_t i = 0; i < w; i += 8) {
        sorted3x8 next;
        if (i + 8 < w) {
            next = load_sorted8(rows, i + 8, w, &centre_next);
        } else {
            next.lo = _mm256_permutevar8x32_epi32(cur.lo, last);
            next.mid = _mm256_permutevar8x32_epi32(cur.mid, last);
            next.hi = _mm256_permutevar8x32_epi32(cur.hi, last);
        }
        const __m256i kl = _mm256_permute2x128_si256(cur.lo, next.lo, 0x21);
        const __m256i km = _mm256_permute2x128_si256(cur.mid, next.mid, 0x21);
        const __m256i kh = _mm256_permute2x128_si256(cur.hi, next.hi, 0x21);
        const __m256i p = _mm256_max_epu8(_mm256_max_epu8(_mm256_alignr_epi8(cur.lo, jl, 12), cur.lo),
                                          _mm256_alignr_epi8(kl, cur.lo, 4));
        const __m256i r = _mm256_min_epu8(_mm256_min_epu8(_mm256_alignr_epi8(cur.hi, jh, 12), cur.hi),
                                          _mm256_alignr_epi8(kh, cur.hi, 4));
        const __m256i m0 = _mm256_alignr_epi8(cur.mid, jm, 12), m2 = _mm256_alignr_epi8(km, cur.mid, 4);
        const __m256i q = _mm256_max_epu8(_mm256_min_epu8(m0, cur.mid),
                                          _mm256_min_epu8(_mm256_max_epu8(m0, cur.mid), m2));
        __m256i v = _mm256_max_epu8(_mm256_min_epu8(p, q), _mm256_min_epu8(_mm256_max_epu8(p, q), r));
        v = _mm256_blendv_epi8(v, centre, keep);
        const size_t left = w - i;
        if (left >= 8) {
            _mm256_storeu_si256((__m256i *)(out + 4 * i), v);
        } else {
            const __m256i lanes = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
            _mm256_maskstore_epi32((int *)(out + 4 * i), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), lanes), v);
        }
        jl = kl;
        jm = km;
        jh = kh;
        cur = next;
        centre = centre_next;
    }
}
#endif

/* k = 5 and 7 in the four stages of median_networks.staged(k), for output rows y and y + 1 together
 * on a block of the row at a time: each column of the k - 1 rows both windows hold sorted once, each
 * pair of neighbouring sorted columns merged once, the k + 1 ranks of the values the two windows
 * share that can still be a median selected once per column, then per output row the k values of
 * its own row merged in. Comparators per output byte: 49 for k = 5 (the plain network: 113), 110
 * for k = 7 (319). rows[0 .. k] are the rows y - r .. y + r + 1 from the windows' left column on.
 * One body for both sizes (k a constant after inlining); each stage a function of its own with
 * restrict-qualified arrays, so that the compiler vectorises it without overlap checks. */
#define STAGED_BLOCK 1024
#define STAGED_SPAN (STAGED_BLOCK + 24) /* a block plus the 6 columns of up to 4 bytes to its right */
#define STAGED_VECTOR 64                /* a multiple of every path's vector width, dividing the block */
#define STAGED_NET(k, stage)                                                                           \
    do {                                                                                               \
        if ((k) == 5) {                                                                                \
            MEDIAN5_##stage                                                                            \
        } else {                                                                                       \
            MEDIAN7_##stage                                                                            \
        }                                                                                              \
    } while (0)

AUGCLI_INLINE void staged_colsort(int k, const uint8_t *const *rows, uint8_t (*restrict s)[STAGED_SPAN], size_t cols)
{
    const uint8_t *restrict r0 = rows[0], *restrict r1 = rows[1], *restrict r2 = rows[2], *restrict r3 = rows[3];
    /* k = 5 sorts v[0 .. 3] only: the loads of v[4], v[5] are dead there */
    const uint8_t *restrict r4 = rows[k == 7 ? 4 : 0], *restrict r5 = rows[k == 7 ? 5 : 0];
    for (size_t j = 0; j < cols; j++) {
        uint8_t v[6] = {r0[j], r1[j], r2[j], r3[j], r4[j], r5[j]};
        STAGED_NET(k, COLSORT);
        for (int i = 0; i < k - 1; i++)
            s[i][j] = v[i];
    }
}

AUGCLI_INLINE void staged_pairs(int k, uint8_t (*restrict s)[STAGED_SPAN], uint8_t (*restrict p)[STAGED_SPAN],
                                size_t cols, int bpp)
{
    static const int rank5[8] = MEDIAN5_PAIR_RANK, rank7[12] = MEDIAN7_PAIR_RANK;
    const int *rank = k == 5 ? rank5 : rank7;
    for (size_t j = 0; j < cols; j++) {
        uint8_t v[12];
        for (int i = 0; i < k - 1; i++) {
            v[i] = s[i][j];
            v[k - 1 + i] = s[i][j + bpp];
        }
        STAGED_NET(k, PAIR);
        for (int i = 0; i < 2 * k - 2; i++)
            p[i][j] = v[rank[i]];
    }
}

AUGCLI_INLINE void staged_core(int k, uint8_t (*restrict s)[STAGED_SPAN], uint8_t (*restrict p)[STAGED_SPAN],
                               uint8_t (*restrict c)[STAGED_BLOCK], size_t len, int bpp)
{
    static const int slot5[6] = MEDIAN5_CORE_SLOTS, slot7[8] = MEDIAN7_CORE_SLOTS;
    const int *slot = k == 5 ? slot5 : slot7;
    const int pair = 2 * k - 2;
    for (size_t j = 0; j < len; j++) {
        uint8_t v[42];
        for (int q = 0; q < k / 2; q++)
            for (int i = 0; i < pair; i++)
                v[q * pair + i] = p[i][j + 2 * (size_t)q * bpp];
        for (int i = 0; i < k - 1; i++)
            v[k / 2 * pair + i] = s[i][j + (size_t)(k - 1) * bpp];
        STAGED_NET(k, CORE);
        for (int i = 0; i <= k; i++)
            c[i][j] = v[slot[i]];
    }
}

AUGCLI_INLINE void staged_final(int k, uint8_t (*restrict c)[STAGED_BLOCK], const uint8_t *restrict e,
                                uint8_t *restrict out, size_t len, int bpp)
{
    for (size_t j = 0; j < len; j++) {
        uint8_t v[15];
        for (int i = 0; i <= k; i++)
            v[i] = c[i][j];
        for (int i = 0; i < k; i++)
            v[k + 1 + i] = e[j + (size_t)i * bpp];
        STAGED_NET(k, FINAL);
        out[j] = v[k == 5 ? MEDIAN5_FINAL_SLOT : MEDIAN7_FINAL_SLOT];
    }
}

AUGCLI_INLINE void staged_body(int k, const uint8_t *const *rows, uint8_t *restrict out0, uint8_t *restrict out1,
                               size_t n, int bpp)
{
    uint8_t s[6][STAGED_SPAN], p[12][STAGED_SPAN], c[8][STAGED_BLOCK];
    for (size_t j0 = 0; j0 < n; j0 += STAGED_BLOCK) {
        const size_t len = n - j0 < STAGED_BLOCK ? n - j0 : STAGED_BLOCK;
        /* the middle stages run on whole 64-byte vectors (no scalar tails of their long networks):
         * the columns past the block are zeros, and what they give is never read */
        const size_t wide = (len + STAGED_VECTOR - 1) / STAGED_VECTOR * STAGED_VECTOR, cols = len + (size_t)(k - 1) * bpp;
        const uint8_t *shared[6];
        for (int i = 0; i < k - 1; i++)
            shared[i] = rows[1 + i] + j0;
        staged_colsort(k, shared, s, cols);
        for (int i = 0; i < k - 1; i++)
            memset(s[i] + cols, 0, wide - len);
        staged_pairs(k, s, p, wide + (size_t)(k - 3) * bpp, bpp);
        staged_core(k, s, p, c, wide, bpp);
        staged_final(k, c, rows[0] + j0, out0 + j0, len, bpp);
        staged_final(k, c, rows[k] + j0, out1 + j0, len, bpp);
    }
}
AUGCLI_INLINE void median5_body(const uint8_t *const *rows, uint8_t *restrict out0, uint8_t *restrict out1, size_t n,
                                int bpp)
{
    staged_body(5, rows, out0, out1, n, bpp);
}
AUGCLI_INLINE void median7_body(const uint8_t *const *rows, uint8_t *restrict out0, uint8_t *restrict out1, size_t n,
                                int bpp)
{
    staged_body(7, rows, out0, out1, n, bpp);
}
AUGCLI_DISPATCH(median5, (const uint8_t *const *rows, uint8_t *out0, uint8_t *out1, size_t n, int bpp),
                (rows, out0, out1, n, bpp))
AUGCLI_DISPATCH(median7, (const uint8_t *const *rows, uint8_t *out0, uint8_t *out1, size_t n, int bpp),
                (rows, out0, out1, n, bpp))

static void run_median(window_rows *wr, uint8_t *dst, int nc, int k, const uint16_t *net, int ncmp, int out_slot,
                       uint8_t *slots, int path)
{
    const network_fn network = network_for(path);
    const int bpp = wr->bpp;
    const size_t n = (size_t)wr->w * bpp;
    /* 3x3: the 256-bit build also on the AVX-512 path, where it ran faster than the 512-bit one
     * (bench/sensor_ops.py); every build computes the same bytes */
    const median3_fn m3 = median3_for(path == AUGCLI_AVX512 ? AUGCLI_AVX2 : path);
    const median5_fn m5 = median5_for(path);
    const median7_fn m7 = median7_for(path);
    if (k == 5 || k == 7) { /* the window of radius r + 1 holds rows y - r - 1 .. y + r + 1, r + 1
                               columns of padding a side */
        const copy_extra_row_fn copy = copy_extra_row_for(path);
        for (int y = 0; y < wr->h; y += 2) {
            augcli_window_advance(wr, y);
            const uint8_t *rows[8];
            for (int i = 0; i <= k; i++)
                rows[i] = wr->rows[i + 1] + bpp;
            uint8_t *out = dst + (size_t)y * n, *below = y + 1 < wr->h ? out + n : slots; /* slots: a spare row */
            (k == 5 ? m5 : m7)(rows, out, below, n, bpp);
            copy(wr->src + (size_t)y * n, out, wr->w, bpp, nc);
            if (y + 1 < wr->h)
                copy(wr->src + (size_t)(y + 1) * n, below, wr->w, bpp, nc);
        }
        return;
    }
    if (k == 3) { /* straight from the source rows: the column sort replicates the edges itself */
        const copy_extra_row_fn copy = copy_extra_row_for(path);
        for (int y = 0; y < wr->h; y++) {
            const uint8_t *rows[3] = {wr->src + (size_t)(y > 0 ? y - 1 : 0) * n, wr->src + (size_t)y * n,
                                      wr->src + (size_t)(y + 1 < wr->h ? y + 1 : y) * n};
#if AUGCLI_X86
            if (path != AUGCLI_SCALAR && bpp == 4) {
                (path == AUGCLI_AVX512 ? median3_px4_avx512 : median3_px4_avx2)(rows, dst + (size_t)y * n,
                                                                                (size_t)wr->w, nc);
                continue;
            }
#endif
            m3(rows, dst + (size_t)y * n, n, bpp);
            copy(wr->src + (size_t)y * n, dst + (size_t)y * n, wr->w, bpp, nc);
        }
        return;
    }
    for (int y = 0; y < wr->h; y++) {
        augcli_window_advance(wr, y);
        uint8_t *out = dst + (size_t)y * n;
        for (size_t j0 = 0; j0 < n; j0 += MEDIAN_BLOCK) {
            const size_t len = n - j0 < MEDIAN_BLOCK ? n - j0 : MEDIAN_BLOCK;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++)
                    memcpy(slots + (size_t)(i * k + j) * MEDIAN_BLOCK, wr->rows[i] + j0 + (size_t)j * bpp, len);
            network(slots, MEDIAN_BLOCK, len, net, ncmp);
            memcpy(out + j0, slots + (size_t)out_slot * MEDIAN_BLOCK, len);
        }
        augcli_row_copy_extra(wr->src + (size_t)y * n, out, wr->w, bpp, nc);
    }
}

PyObject *augcli_py_median(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer net;
    int k, out_slot;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiiy*i", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &k, &net, &out_slot))
        return NULL;
    if (augcli_check_pair("median", &p, 0)) {
        PyBuffer_Release(&net);
        return NULL;
    }
    const int slots_n = k * k;
    int bad = k < 1 || k > MEDIAN_MAX_K || k % 2 == 0 || net.len % 4 != 0 || out_slot < 0 || out_slot >= slots_n;
    const int ncmp = bad ? 0 : (int)(net.len / 4);
    uint16_t *pairs = bad ? NULL : PyMem_RawMalloc((size_t)ncmp * 4 + 4);
    if (!bad && pairs) {
        memcpy(pairs, net.buf, (size_t)net.len); /* native-endian uint16 pairs */
        for (int c = 0; c < ncmp && !bad; c++)
            bad = pairs[2 * c] >= slots_n || pairs[2 * c + 1] >= slots_n || pairs[2 * c] == pairs[2 * c + 1];
    }
    PyBuffer_Release(&net);
    if (bad) {
        PyMem_RawFree(pairs);
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "median: k must be odd, 1 to 15, and the network pairs of distinct slots < k^2");
        return NULL;
    }
    window_rows wr;
    memset(&wr, 0, sizeof wr);
    /* k = 5 and 7 take a spare output row, for the row below the last of an odd height, instead */
    const size_t row_bytes = (size_t)p.w * p.bpp;
    const int staged = k == 5 || k == 7;
    uint8_t *slots = PyMem_RawMalloc(staged ? row_bytes : (size_t)slots_n * MEDIAN_BLOCK);
    if (!pairs || !slots || augcli_window_init(&wr, p.src.buf, p.w, p.h, p.bpp, k / 2 + staged)) {
        PyErr_NoMemory();
    } else {
        const int path = augcli_pixel_path;
        Py_BEGIN_ALLOW_THREADS
        run_median(&wr, p.dst.buf, p.nc, k, pairs, ncmp, out_slot, slots, path);
        Py_END_ALLOW_THREADS
    }
    augcli_window_free(&wr);
    PyMem_RawFree(slots);
    PyMem_RawFree(pairs);
    augcli_release_pair(&p);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

