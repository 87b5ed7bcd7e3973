/* CLAHE (contrast-limited adaptive histogram equalisation) on the luma of an 8-bit image, part of the
 * _pixel module.
 *
 * The algorithm is OpenCV's createCLAHE, in integers (the same bytes on every path; the SIMD paths
 * share one AVX2 build of the luma and of the per-pixel blend, the tables are scalar code):
 * - luma Y: the value of a grey image; of RGB, Pillow's convert("L"): (19595 R + 38470 G + 7471 B +
 *   2^15) >> 16.
 * - the tile grid: tx x ty tiles over the image, extended at the right and bottom (only) when either
 *   side does not divide, by tx - w % tx columns and ty - h % ty rows (both, as OpenCV does), with
 *   the edge reflected without repeating it (OpenCV's BORDER_REFLECT_101).
 * - per tile: the 256-bin histogram of Y, each bin clipped to `clip` (a count, made from the clip
 *   limit by the caller), the clipped excess spread as OpenCV does (excess // 256 on every bin, the
 *   rest one each on bins 0, s, 2s ... with s = max(256 // rest, 1)); the tile's table maps v to
 *   255 x (the counts up to v) / tile pixels, rounded half to even (as OpenCV's cvRound).
 * - per pixel: the tables of the four nearest tile centres blended bilinearly, the tile coordinate
 *   x / tile width - 1/2 (OpenCV's), its fraction in units of 2^-11 rounded half up; the blend
 *   (t11 (2^11 - fx) + t12 fx) (2^11 - fy) + (t21 (2^11 - fx) + t22 fx) fy, in units of 2^-22,
 *   rounded half to even.
 * - output: grey: Y'. RGB: every colour band moved by Y' - Y, clamped to 0..255 (with the 601 luma,
 *   adding the same d to R, G and B adds d to Y and leaves YCbCr's Cb and Cr as they were).
 */
#include "pixel.h"

#include <string.h>

#define CLAHE_MAX_TILES 64
#define CLAHE_Q 11

static int reflect101(int p, int n)
{
    if (n == 1)
        return 0;
    while (p < 0 || p >= n)
        p = p < 0 ? -p : 2 * n - 2 - p;
    return p;
}

/* floor(a / b) for b > 0 */
static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* For coordinate x along an axis of `tiles` tiles of `size` pixels: the two tiles to blend (times
 * 256) and the weight of the second, in units of 2^-CLAHE_Q. */
static void blend_axis_at(int x, int size, int tiles, int32_t *first, int32_t *second, int32_t *weight)
{
    const int num = 2 * x - size; /* x / size - 1/2 = num / (2 size) */
    const int t1 = floor_div(num, 2 * size);
    const int rem = num - t1 * 2 * size;
    *weight = (int32_t)(((int64_t)rem * (1 << CLAHE_Q) + size) / (2 * size));
    *first = (t1 < 0 ? 0 : t1) * 256;
    *second = (t1 + 1 > tiles - 1 ? tiles - 1 : t1 + 1) * 256;
}

static void clahe_tables(const uint8_t *luma, int w, int h, int tx, int ty, int tw, int th, uint32_t clip,
                         uint32_t *hist, int32_t *xtile, uint8_t *luts)
{
    const int pw = tw * tx, ph = th * ty;
    int32_t *cols = xtile + pw;
    for (int x = 0; x < pw; x++) {
        xtile[x] = (x / tw) * 256;
        cols[x] = reflect101(x, w);
    }
    memset(hist, 0, sizeof(uint32_t) * 256 * (size_t)tx * ty);
    for (int y = 0; y < ph; y++) {
        const uint8_t *row = luma + (size_t)reflect101(y, h) * w;
        uint32_t *hrow = hist + (size_t)(y / th) * tx * 256;
        if (pw == w) {
            for (int x = 0; x < w; x++)
                hrow[xtile[x] + row[x]]++;
        } else {
            for (int x = 0; x < pw; x++)
                hrow[xtile[x] + row[cols[x]]]++;
        }
    }
    const uint64_t area = (uint64_t)tw * th;
    for (int t = 0; t < tx * ty; t++) {
        uint32_t *hh = hist + (size_t)t * 256;
        uint64_t excess = 0;
        for (int i = 0; i < 256; i++) {
            if (hh[i] > clip) {
                excess += hh[i] - clip;
                hh[i] = clip;
            }
        }
        const uint32_t batch = (uint32_t)(excess / 256);
        uint32_t rest = (uint32_t)(excess - (uint64_t)batch * 256);
        for (int i = 0; i < 256; i++)
            hh[i] += batch;
        if (rest) {
            const uint32_t step = 256 / rest > 1 ? 256 / rest : 1;
            for (uint32_t i = 0; i < 256 && rest > 0; i += step, rest--)
                hh[i]++;
        }
        uint64_t sum = 0;
        for (int i = 0; i < 256; i++) {
            sum += hh[i];
            const uint64_t q = sum * 255 / area, r2 = 2 * (sum * 255 - q * area);
            const uint64_t v = q + (r2 > area || (r2 == area && (q & 1)));
            luts[(size_t)t * 256 + i] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

/* One row of output, the layout (bpp, nc) a compile-time constant in each caller. Between two tile
 * centres the pair of tables is the same, so the row goes by those spans. */
AUGCLI_INLINE void clahe_row(const uint8_t *restrict s, uint8_t *restrict d, const uint8_t *restrict yrow, int w,
                             const int bpp, const int nc, int tx, int tw, const uint8_t *lut1, const uint8_t *lut2,
                             uint32_t wy2, const uint32_t *restrict wx)
{
    const uint32_t one = 1u << CLAHE_Q, wy1 = one - wy2, half = 1u << (2 * CLAHE_Q - 1);
    int x = 0;
    for (int span = 0; span <= tx && x < w; span++) {
        /* x in this span: tiles span - 1 and span, clamped to the grid; the span ends at the next
         * tile centre, tile span's, x = span tw + tw / 2 */
        int end = (int)(((int64_t)2 * span * tw + tw + 1) / 2); /* first x with 2x - tw >= 2 span tw */
        if (end > w || span == tx)
            end = w;
        const int t1 = span - 1 < 0 ? 0 : span - 1, t2 = span > tx - 1 ? tx - 1 : span;
        const uint8_t *p11 = lut1 + (size_t)t1 * 256, *p12 = lut1 + (size_t)t2 * 256;
        const uint8_t *p21 = lut2 + (size_t)t1 * 256, *p22 = lut2 + (size_t)t2 * 256;
        for (; x < end; x++) {
            const int v = yrow[x];
            const uint32_t fx2 = wx[x], fx1 = one - fx2;
            const uint32_t blend = (p11[v] * fx1 + p12[v] * fx2) * wy1 + (p21[v] * fx1 + p22[v] * fx2) * wy2;
            const int out = (int)((blend + half - 1 + ((blend >> (2 * CLAHE_Q)) & 1)) >> (2 * CLAHE_Q));
            if (nc == 1) {
                d[(size_t)x * bpp] = (uint8_t)out;
            } else {
                const int diff = out - v;
                for (int c = 0; c < 3; c++) {
                    const int o = s[(size_t)x * bpp + c] + diff;
                    d[(size_t)x * bpp + c] = (uint8_t)(o < 0 ? 0 : (o > 255 ? 255 : o));
                }
            }
            for (int c = nc; c < bpp; c++)
                d[(size_t)x * bpp + c] = s[(size_t)x * bpp + c];
        }
    }
}

static void clahe_apply(const uint8_t *src, uint8_t *dst, const uint8_t *luma, int w, int h, int bpp, int nc,
                        int tx, int ty, int tw, int th, const uint8_t *luts, int32_t *axis)
{
    uint32_t *wx = (uint32_t *)axis;
    for (int x = 0; x < w; x++) {
        int32_t first, second, weight;
        blend_axis_at(x, tw, tx, &first, &second, &weight);
        wx[x] = (uint32_t)weight;
    }
    for (int y = 0; y < h; y++) {
        int32_t y1, y2, wy; /* tile rows * 256 and the weight of the second */
        blend_axis_at(y, th, ty, &y1, &y2, &wy);
        const uint8_t *lut1 = luts + (size_t)y1 * tx, *lut2 = luts + (size_t)y2 * tx;
        const uint8_t *yrow = luma ? luma + (size_t)y * w : src + (size_t)y * w;
        const uint8_t *s = src + (size_t)y * w * bpp;
        uint8_t *d = dst + (size_t)y * w * bpp;
#define CLAHE_ROW(BPP, NC) clahe_row(s, d, yrow, w, BPP, NC, tx, tw, lut1, lut2, (uint32_t)wy, wx)
        if (bpp == 1)
            CLAHE_ROW(1, 1);
        else if (bpp == 2)
            CLAHE_ROW(2, 1);
        else if (bpp == 3)
            CLAHE_ROW(3, 3);
        else if (nc == 3)
            CLAHE_ROW(4, 3);
        else
            CLAHE_ROW(4, 1);
#undef CLAHE_ROW
    }
}

#if AUGCLI_X86
#include "simd8.h"

/* The SIMD paths (AVX2 code, run by the avx2 and avx512 paths alike), the same integers as
 * clahe_row: for each pair of tile rows the four tables a pixel blends are packed in one uint32 per
 * (span, value), pair[span 256 + v] = p11[v] | p12[v] << 8 | p21[v] << 16 | p22[v] << 24, so one
 * gather fetches all four, and a row needs no spans: spanx[x] = 256 x (the span of x). */
static void clahe_pairs(const uint8_t *lut1, const uint8_t *lut2, int tx, uint32_t *pair)
{
    for (int span = 0; span <= tx; span++) {
        const int t1 = span - 1 < 0 ? 0 : span - 1, t2 = span > tx - 1 ? tx - 1 : span;
        const uint8_t *p11 = lut1 + (size_t)t1 * 256, *p12 = lut1 + (size_t)t2 * 256;
        const uint8_t *p21 = lut2 + (size_t)t1 * 256, *p22 = lut2 + (size_t)t2 * 256;
        for (int v = 0; v < 256; v++)
            pair[span * 256 + v] = p11[v] | (uint32_t)p12[v] << 8 | (uint32_t)p21[v] << 16 | (uint32_t)p22[v] << 24;
    }
}

/* the spans of clahe_row */
static void clahe_spans(int w, int tx, int tw, int32_t *spanx)
{
    int x = 0;
    for (int span = 0; span <= tx && x < w; span++) {
        int end = (int)(((int64_t)2 * span * tw + tw + 1) / 2);
        if (end > w || span == tx)
            end = w;
        for (; x < end; x++)
            spanx[x] = span * 256;
    }
}

/* clahe_row's pixel, from the packed tables */
static inline void clahe_pixel(const uint8_t *s, uint8_t *d, int v, int bpp, int nc, uint32_t g, uint32_t fx2,
                               uint32_t wy2)
{
    const uint32_t one = 1u << CLAHE_Q, fx1 = one - fx2, wy1 = one - wy2, half = 1u << (2 * CLAHE_Q - 1);
    const uint32_t blend = ((g & 255) * fx1 + (g >> 8 & 255) * fx2) * wy1 + ((g >> 16 & 255) * fx1 + (g >> 24) * fx2) * wy2;
    const int out = (int)((blend + half - 1 + ((blend >> (2 * CLAHE_Q)) & 1)) >> (2 * CLAHE_Q));
    if (nc == 1) {
        d[0] = (uint8_t)out;
    } else {
        for (int c = 0; c < 3; c++) {
            const int o = s[c] + out - v;
            d[c] = (uint8_t)(o < 0 ? 0 : (o > 255 ? 255 : o));
        }
    }
    for (int c = nc; c < bpp; c++)
        d[c] = s[c];
}

/* One row; the source may be read up to `avail` bytes from s (the rest of the buffer). */
AUGCLI_TARGET_AVX2 static void clahe_row_simd(const uint8_t *s, uint8_t *d, const uint8_t *yrow, int w, int bpp,
                                              int nc, size_t avail, const uint32_t *pair, const int32_t *spanx,
                                              const uint32_t *wx, const uint32_t *wxp, uint32_t wy2)
{
    const __m256i one = _mm256_set1_epi32(1 << CLAHE_Q), byte = _mm256_set1_epi32(255), zero = _mm256_setzero_si256();
    const __m256i wy2v = _mm256_set1_epi32((int)wy2), wy1v = _mm256_sub_epi32(one, wy2v);
    const __m256i round = _mm256_set1_epi32((1 << (2 * CLAHE_Q - 1)) - 1), low = _mm256_set1_epi32(1);
    /* per uint32 lane t11 t12 t21 t22 (bytes 0-3) -> the 16-bit pairs (t11, t12) and (t21, t22) */
    const __m256i lo_pair = _mm256_setr_epi8(0, -1, 1, -1, 4, -1, 5, -1, 8, -1, 9, -1, 12, -1, 13, -1, 0, -1, 1, -1, 4,
                                             -1, 5, -1, 8, -1, 9, -1, 12, -1, 13, -1);
    const __m256i hi_pair = _mm256_setr_epi8(2, -1, 3, -1, 6, -1, 7, -1, 10, -1, 11, -1, 14, -1, 15, -1, 2, -1, 3, -1, 6,
                                             -1, 7, -1, 10, -1, 11, -1, 14, -1, 15, -1);
    int x = 0;
    for (; x + 8 <= w && (size_t)x * bpp + AUGCLI_READ8(bpp) <= avail; x += 8) {
        const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(yrow + x)));
        const __m256i idx = _mm256_add_epi32(v, _mm256_loadu_si256((const __m256i *)(spanx + x)));
        const __m256i g = _mm256_i32gather_epi32((const int *)pair, idx, 4);
        /* t11 fx1 + t12 fx2 and t21 fx1 + t22 fx2 as 16-bit pairs multiplied and added (vpmaddwd: the
         * tables are below 2^8, the weights at most 2^11, the sums below 2^20) */
        const __m256i pairs = _mm256_loadu_si256((const __m256i *)(wxp + x));
        const __m256i top = _mm256_madd_epi16(_mm256_shuffle_epi8(g, lo_pair), pairs);
        const __m256i bot = _mm256_madd_epi16(_mm256_shuffle_epi8(g, hi_pair), pairs);
        const __m256i blend = _mm256_add_epi32(_mm256_mullo_epi32(top, wy1v), _mm256_mullo_epi32(bot, wy2v));
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(blend, 2 * CLAHE_Q), low);
        const __m256i out = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(blend, round), odd), 2 * CLAHE_Q);
        if (bpp == 1) {
            augcli_store8(d + x, out, 1);
            continue;
        }
        const __m256i px = augcli_load8(s + (size_t)x * bpp, bpp);
        __m256i res;
        if (nc == 1) {
            res = _mm256_or_si256(_mm256_andnot_si256(byte, px), out);
        } else {
            const __m256i diff = _mm256_sub_epi32(out, v);
            res = _mm256_andnot_si256(_mm256_set1_epi32(0xFFFFFF), px);
            for (int c = 0; c < 3; c++) {
                const __m256i q = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(px, 8 * c), byte), diff);
                res = _mm256_or_si256(res, _mm256_slli_epi32(_mm256_max_epi32(_mm256_min_epi32(q, byte), zero), 8 * c));
            }
        }
        augcli_store8(d + (size_t)x * bpp, res, bpp);
    }
    for (; x < w; x++)
        clahe_pixel(s + (size_t)x * bpp, d + (size_t)x * bpp, yrow[x], bpp, nc, pair[spanx[x] + yrow[x]], wx[x], wy2);
}

/* The luma of an image of 2 to 4 bytes a pixel, as the scalar loop in augcli_py_clahe computes it. */
AUGCLI_TARGET_AVX2 static void clahe_luma_simd(const uint8_t *s, uint8_t *luma, size_t npx, int bpp, int nc)
{
    const __m256i byte = _mm256_set1_epi32(255);
    size_t i = 0;
    for (; i * bpp + AUGCLI_READ8(bpp) <= npx * bpp; i += 8) {
        const __m256i px = augcli_load8(s + i * bpp, bpp);
        __m256i y = _mm256_and_si256(px, byte);
        if (nc == 3) {
            const __m256i g = _mm256_and_si256(_mm256_srli_epi32(px, 8), byte);
            const __m256i b = _mm256_and_si256(_mm256_srli_epi32(px, 16), byte);
            y = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(y, _mm256_set1_epi32(19595)),
                                                  _mm256_mullo_epi32(g, _mm256_set1_epi32(38470))),
                                 _mm256_add_epi32(_mm256_mullo_epi32(b, _mm256_set1_epi32(7471)),
                                                  _mm256_set1_epi32(0x8000)));
            y = _mm256_srli_epi32(y, 16);
        }
        augcli_store8(luma + i, y, 1);
    }
    for (; i < npx; i++) {
        const uint8_t *q = s + i * bpp;
        luma[i] = nc == 1 ? q[0] : (uint8_t)((19595u * q[0] + 38470u * q[1] + 7471u * q[2] + 0x8000u) >> 16);
    }
}

static void clahe_apply_simd(const uint8_t *src, uint8_t *dst, const uint8_t *luma, int w, int h, int bpp, int nc,
                             int tx, int ty, int tw, int th, const uint8_t *luts, int32_t *axis, uint32_t *pair,
                             int32_t *spanx)
{
    uint32_t *wx = (uint32_t *)axis, *wxp = wx + w; /* axis holds 3 w */
    for (int x = 0; x < w; x++) {
        int32_t first, second, weight;
        blend_axis_at(x, tw, tx, &first, &second, &weight);
        wx[x] = (uint32_t)weight;
        wxp[x] = ((1u << CLAHE_Q) - (uint32_t)weight) | (uint32_t)weight << 16; /* the 16-bit pair (fx1, fx2) */
    }
    clahe_spans(w, tx, tw, spanx);
    int32_t made1 = -1, made2 = -1;
    for (int y = 0; y < h; y++) {
        int32_t y1, y2, wy;
        blend_axis_at(y, th, ty, &y1, &y2, &wy);
        if (y1 != made1 || y2 != made2) {
            clahe_pairs(luts + (size_t)y1 * tx, luts + (size_t)y2 * tx, tx, pair);
            made1 = y1;
            made2 = y2;
        }
        const uint8_t *yrow = luma ? luma + (size_t)y * w : src + (size_t)y * w;
        const size_t row = (size_t)y * w * bpp;
        clahe_row_simd(src + row, dst + row, yrow, w, bpp, nc, (size_t)w * h * bpp - row, pair, spanx, wx, wxp,
                       (uint32_t)wy);
    }
}
#endif

PyObject *augcli_py_clahe(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    int tx, ty;
    unsigned long clip;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiikii", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &clip, &tx, &ty))
        return NULL;
    if (augcli_check_pair("clahe", &p, 0))
        return NULL;
    if ((p.nc != 1 && p.nc != 3) || tx < 1 || ty < 1 || tx > CLAHE_MAX_TILES || ty > CLAHE_MAX_TILES || clip < 1 ||
        clip > 0xFFFFFFFFul) {
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "clahe: 1 or 3 colour bands, 1 to 64 tiles a side, a clip count >= 1");
        return NULL;
    }
    const int w = p.w, h = p.h, bpp = p.bpp, nc = p.nc;
    /* OpenCV's grid: extended at the right and bottom when either side does not divide */
    const int extend = (w % tx) || (h % ty);
    const int tw = (w + (extend ? tx - w % tx : 0)) / tx, th = (h + (extend ? ty - h % ty : 0)) / ty;
    uint8_t *luma = PyMem_RawMalloc(p.bpp == 1 ? 1 : p.npx);
    uint32_t *hist = PyMem_RawMalloc(sizeof(uint32_t) * 256 * (size_t)tx * ty);
    uint8_t *luts = PyMem_RawMalloc(256 * (size_t)tx * ty);
    const size_t axis_n = 2 * (size_t)tw * tx > 3 * (size_t)w ? 2 * (size_t)tw * tx : 3 * (size_t)w;
    int32_t *axis = PyMem_RawMalloc(sizeof(int32_t) * axis_n);
    const int simd = AUGCLI_X86 && augcli_pixel_path != AUGCLI_SCALAR;
    uint32_t *pair = simd ? PyMem_RawMalloc(sizeof(uint32_t) * 256 * (size_t)(tx + 1)) : NULL;
    int32_t *spanx = simd ? PyMem_RawMalloc(sizeof(int32_t) * (size_t)w) : NULL;
    if (!luma || !hist || !luts || !axis || (simd && (!pair || !spanx))) {
        PyErr_NoMemory();
    } else {
        const uint8_t *s = p.src.buf;
        Py_BEGIN_ALLOW_THREADS
        if (bpp == 1) {
            /* the source is its own luma */
        }
#if AUGCLI_X86
        else if (simd) {
            clahe_luma_simd(s, luma, p.npx, bpp, nc);
        }
#endif
        else if (nc == 1) {
            for (size_t i = 0; i < p.npx; i++)
                luma[i] = s[i * bpp];
        } else {
            for (size_t i = 0; i < p.npx; i++) {
                const uint8_t *q = s + i * bpp;
                luma[i] = (uint8_t)((19595u * q[0] + 38470u * q[1] + 7471u * q[2] + 0x8000u) >> 16);
            }
        }
        clahe_tables(bpp == 1 ? s : luma, w, h, tx, ty, tw, th, (uint32_t)clip, hist, axis, luts);
#if AUGCLI_X86
        if (simd)
            clahe_apply_simd(s, p.dst.buf, bpp == 1 ? NULL : luma, w, h, bpp, nc, tx, ty, tw, th, luts, axis, pair,
                             spanx);
        else
#endif
            clahe_apply(s, p.dst.buf, bpp == 1 ? NULL : luma, w, h, bpp, nc, tx, ty, tw, th, luts, axis);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(luma);
    PyMem_RawFree(hist);
    PyMem_RawFree(luts);
    PyMem_RawFree(axis);
    PyMem_RawFree(pair);
    PyMem_RawFree(spanx);
    augcli_release_pair(&p);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}
