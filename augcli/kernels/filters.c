/* Separable filters for 8-bit images: the Gaussian blur.
 *
 * scipy.ndimage.gaussian_filter(mode="nearest") semantics: a symmetric kernel of 2r + 1 taps
 * (computed by augcli.kernels from the normalised Gaussian truncated at 4 sigma), edges replicated.
 * Integer arithmetic, the same on every path:
 * - taps t[0] (centre) .. t[r], unsigned, t[0] + 2 (t[1] + ... + t[r]) == 2^16 exactly;
 * - horizontal pass per row, on every byte of the pixel (the row padded by r replicated pixels on
 *   each side): q = (sum t[|i|] p[x + i] + 2^7) >> 8, the row blurred in units of 2^-8 (uint16);
 * - vertical pass per column of q, rows clamped to the image: out = (sum t[|i|] q[y + i] + 2^23) >> 24.
 * Every sum is at most 65280 * 2^16 < 2^32, so uint32 never overflows. Non-colour bytes (alpha)
 * are copied from the source afterwards. Scratch, allocated once per call: the padded row, one
 * accumulator row, a ring of min(2r + 1, h) horizontally blurred rows (2 bytes per sample; the
 * rows stream through it, so it stays in cache) and the row pointers.
 */
#include "pixel.h"

#include <string.h>


#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* let the compiler vectorise the integer loops for each target */
#endif

AUGCLI_INLINE void hrow_body(const uint8_t *restrict pad, uint16_t *restrict q, uint32_t *restrict acc, size_t n,
                             int bpp, const uint32_t *restrict t, int r)
{
    const uint8_t *c = pad + (size_t)r * bpp;
    const uint32_t t0 = t[0];
    for (size_t j = 0; j < n; j++)
        acc[j] = t0 * c[j];
    for (int i = 1; i <= r; i++) {
        const uint8_t *a = c - (size_t)i * bpp, *b = c + (size_t)i * bpp;
        const uint32_t ti = t[i];
        for (size_t j = 0; j < n; j++)
            acc[j] += ti * ((uint32_t)a[j] + b[j]);
    }
    for (size_t j = 0; j < n; j++)
        q[j] = (uint16_t)((acc[j] + 128u) >> 8);
}
AUGCLI_DISPATCH(hrow, (const uint8_t *pad, uint16_t *q, uint32_t *acc, size_t n, int bpp, const uint32_t *t, int r),
                (pad, q, acc, n, bpp, t, r))

AUGCLI_INLINE void vrow_body(const uint16_t *const *rows, uint8_t *restrict out, uint32_t *restrict acc, size_t n,
                             const uint32_t *restrict t, int r)
{
    const uint16_t *c = rows[r];
    const uint32_t t0 = t[0];
    for (size_t j = 0; j < n; j++)
        acc[j] = t0 * c[j];
    for (int i = 1; i <= r; i++) {
        const uint16_t *a = rows[r - i], *b = rows[r + i];
        const uint32_t ti = t[i];
        for (size_t j = 0; j < n; j++)
            acc[j] += ti * ((uint32_t)a[j] + b[j]);
    }
    for (size_t j = 0; j < n; j++)
        out[j] = (uint8_t)((acc[j] + (1u << 23)) >> 24);
}
AUGCLI_DISPATCH(vrow, (const uint16_t *const *rows, uint8_t *out, uint32_t *acc, size_t n, const uint32_t *t, int r),
                (rows, out, acc, n, t, r))

#define MAX_TAPS ((1 << 20) + 1)

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    int w, h, bpp, nc, r;
    int ring;           /* rows of the intermediate kept: min(2r + 1, h) */
    const uint32_t *t;
    uint8_t *pad;       /* one source row padded by r replicated pixels on each side */
    uint32_t *acc;      /* one accumulator row */
    uint16_t *inter;    /* ring of horizontally blurred rows: row y lives in slot y % ring */
    const uint16_t **rows;
} blur_job;

static void horizontal_row(const blur_job *j, int y, hrow_fn hrow)
{
    const int w = j->w, bpp = j->bpp, r = j->r;
    const size_t n = (size_t)w * bpp;
    const uint8_t *row = j->src + (size_t)y * n;
    memcpy(j->pad + (size_t)r * bpp, row, n);
    for (int k = 0; k < r; k++) {
        memcpy(j->pad + (size_t)k * bpp, row, (size_t)bpp);
        memcpy(j->pad + (size_t)(r + w + k) * bpp, row + (size_t)(w - 1) * bpp, (size_t)bpp);
    }
    hrow(j->pad, j->inter + (size_t)(y % j->ring) * n, j->acc, n, bpp, j->t, r);
}

/* Rows stream through the ring: output row y needs the blurred source rows y - r .. y + r
 * (clamped), at most `ring` distinct consecutive rows, so the intermediate stays in cache. */
static void run_blur(const blur_job *j, int path)
{
    const int h = j->h, r = j->r;
    const size_t n = (size_t)j->w * j->bpp;
    const hrow_fn hrow = hrow_for(path);
    const vrow_fn vrow = vrow_for(path);
    int done = 0; /* source rows 0 .. done - 1 have been blurred horizontally */
    for (int y = 0; y < h; y++) {
        const int last = (int64_t)y + r >= h ? h - 1 : y + r;
        for (; done <= last; done++)
            horizontal_row(j, done, hrow);
        for (int k = 0; k <= 2 * r; k++) {
            const int64_t yy = (int64_t)y - r + k;
            const int row = yy < 0 ? 0 : (yy >= h ? h - 1 : (int)yy);
            j->rows[k] = j->inter + (size_t)(row % j->ring) * n;
        }
        vrow(j->rows, j->dst + (size_t)y * n, j->acc, n, j->t, r);
    }
    augcli_copy_extra(j->src, j->dst, (size_t)j->w * h, j->bpp, j->nc);
}

PyObject *augcli_py_blur(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer taps;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiy*", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &taps))
        return NULL;
    if (augcli_check_pair("blur", &p, 0)) {
        PyBuffer_Release(&taps);
        return NULL;
    }
    blur_job j;
    memset(&j, 0, sizeof j);
    const Py_ssize_t ntaps = taps.len / 4;
    int bad = taps.len % 4 != 0 || ntaps < 1 || ntaps > MAX_TAPS;
    uint32_t *t = bad ? NULL : PyMem_RawMalloc((size_t)ntaps * sizeof(uint32_t));
    if (!bad && !t) {
        PyBuffer_Release(&taps);
        augcli_release_pair(&p);
        return PyErr_NoMemory();
    }
    if (!bad) {
        uint64_t sum = 0;
        memcpy(t, taps.buf, (size_t)taps.len); /* native-endian uint32 */
        for (Py_ssize_t i = 0; i < ntaps; i++)
            sum += (i ? 2u : 1u) * (uint64_t)t[i];
        bad = sum != 65536;
    }
    PyBuffer_Release(&taps);
    if (bad) {
        PyMem_RawFree(t);
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "blur: the taps must be 1 to 2^20 + 1 uint32 with t0 + 2 (t1 + ...) == 65536");
        return NULL;
    }
    j.r = (int)ntaps - 1;
    j.src = p.src.buf;
    j.dst = p.dst.buf;
    j.w = p.w;
    j.h = p.h;
    j.bpp = p.bpp;
    j.nc = p.nc;
    j.t = t;
    const size_t n = (size_t)p.w * p.bpp;
    j.pad = PyMem_RawMalloc(((size_t)p.w + 2 * (size_t)j.r) * p.bpp);
    j.acc = PyMem_RawMalloc(n * sizeof(uint32_t));
    j.ring = 2 * (int64_t)j.r + 1 < p.h ? 2 * j.r + 1 : p.h;
    j.inter = PyMem_RawMalloc(n * (size_t)j.ring * sizeof(uint16_t));
    j.rows = PyMem_RawMalloc((2 * (size_t)j.r + 1) * sizeof(uint16_t *));
    if (!j.pad || !j.acc || !j.inter || !j.rows) {
        PyErr_NoMemory();
    } else {
        const int path = augcli_pixel_path;
        Py_BEGIN_ALLOW_THREADS
        run_blur(&j, path);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(j.pad);
    PyMem_RawFree(j.acc);
    PyMem_RawFree(j.inter);
    PyMem_RawFree((void *)j.rows);
    PyMem_RawFree(t);
    augcli_release_pair(&p);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------------------------------------- */
/* Window filters (median, sparse integer taps): a window of k x k pixels about each pixel, edges
 * replicated (scipy.ndimage mode "nearest"). The source rows the window needs are kept padded by r
 * replicated pixels on each side in a ring of min(k, h) rows (row y in slot y % ring), so no padded
 * copy of the image is made. Every byte of a pixel is filtered; the non-colour bytes are copied
 * from the source afterwards. */

int augcli_window_init(window_rows *wr, const uint8_t *src, int w, int h, int bpp, int r)
{
    wr->src = src;
    wr->w = w;
    wr->h = h;
    wr->bpp = bpp;
    wr->r = r;
    wr->ring = 2 * (int64_t)r + 1 < h ? 2 * r + 1 : h;
    wr->done = 0;
    wr->pad = PyMem_RawMalloc(((size_t)w + 2 * (size_t)r) * bpp * (size_t)wr->ring);
    wr->rows = PyMem_RawMalloc((2 * (size_t)r + 1) * sizeof(uint8_t *));
    return wr->pad && wr->rows ? 0 : -1;
}

void augcli_window_free(window_rows *wr)
{
    PyMem_RawFree(wr->pad);
    PyMem_RawFree((void *)wr->rows);
}

/* Point rows[0 .. 2r] at the padded source rows y - r .. y + r (clamped), padding new ones. */
void augcli_window_advance(window_rows *wr, int y)
{
    const int w = wr->w, h = wr->h, bpp = wr->bpp, r = wr->r;
    const size_t n = (size_t)w * bpp, padded = ((size_t)w + 2 * (size_t)r) * bpp;
    const int last = (int64_t)y + r >= h ? h - 1 : y + r;
    for (; wr->done <= last; wr->done++) {
        uint8_t *pad = wr->pad + (size_t)(wr->done % wr->ring) * padded;
        const uint8_t *row = wr->src + (size_t)wr->done * n;
        memcpy(pad + (size_t)r * bpp, row, n);
        for (int k = 0; k < r; k++) {
            memcpy(pad + (size_t)k * bpp, row, (size_t)bpp);
            memcpy(pad + (size_t)(r + w + k) * bpp, row + (size_t)(w - 1) * bpp, (size_t)bpp);
        }
    }
    for (int k = 0; k <= 2 * r; k++) {
        const int64_t yy = (int64_t)y - r + k;
        const int row = yy < 0 ? 0 : (yy >= h ? h - 1 : (int)yy);
        wr->rows[k] = wr->pad + (size_t)(row % wr->ring) * padded;
    }
}

/* line mean (motion blur): out = round half up of the mean of the n pixels at offsets (dx, dy),
 * |dx|, |dy| <= r, n <= 63: the sum kept in uint16 (at most 255 n < 2^14), then (2 sum + n) // 2n
 * computed as ((2 sum + n) mult) >> shift in 32 bits ((2 sum + n) < 2^15, mult < 2^16), with mult
 * and shift chosen by augcli.kernels.mean_divisor so that this is exact for every possible sum. */
#define LINE_MAX_R 256
#define LINE_MAX_N 63
#define LINE_BLOCK 512

/* one tap added to a block of sums (a function of its own: restrict-qualified parameters let the
 * compiler vectorise it without a runtime overlap check, which it otherwise took the scalar way) */
AUGCLI_INLINE void line_add(uint16_t *restrict sum, const uint8_t *restrict p, size_t len)
{
    for (size_t j = 0; j < len; j++)
        sum[j] = (uint16_t)(sum[j] + p[j]);
}

AUGCLI_INLINE void line_row_body(const uint8_t *const *rows, uint8_t *restrict out, uint16_t *restrict sum, size_t n,
                                 int bpp, int r, const int32_t *offsets, int count, uint32_t mult, int shift)
{
    for (size_t j0 = 0; j0 < n; j0 += LINE_BLOCK) { /* a block of the row at a time: the sums stay in L1 */
        const size_t len = n - j0 < LINE_BLOCK ? n - j0 : LINE_BLOCK;
        memset(sum, 0, len * sizeof *sum);
        for (int t = 0; t < count; t++)
            line_add(sum, rows[offsets[2 * t + 1] + r] + (size_t)(offsets[2 * t] + r) * bpp + j0, len);
        for (size_t j = 0; j < len; j++)
            out[j0 + j] = (uint8_t)(((2u * (uint32_t)sum[j] + (uint32_t)count) * mult) >> shift);
    }
}
AUGCLI_DISPATCH(line_row, (const uint8_t *const *rows, uint8_t *out, uint16_t *sum, size_t n, int bpp, int r,
                           const int32_t *offsets, int count, uint32_t mult, int shift),
                (rows, out, sum, n, bpp, r, offsets, count, mult, shift))

PyObject *augcli_py_line_mean(PyObject *self, PyObject *args)
{
    (void)self;
    augcli_image_pair p;
    Py_buffer ob;
    unsigned long long mult;
    int shift;
    memset(&p, 0, sizeof p);
    if (!PyArg_ParseTuple(args, "y*w*iiiiy*Ki", &p.src, &p.dst, &p.w, &p.h, &p.bpp, &p.nc, &ob, &mult, &shift))
        return NULL;
    if (augcli_check_pair("line_mean", &p, 0)) {
        PyBuffer_Release(&ob);
        return NULL;
    }
    const Py_ssize_t count = ob.len / 8;
    /* (2 sum + n) < 2^15 and mult < 2^16 keep the product below 2^31 */
    int bad = ob.len % 8 != 0 || count < 1 || count > LINE_MAX_N || mult >= (1u << 16) || shift < 0 || shift > 31;
    int32_t *offsets = bad ? NULL : PyMem_RawMalloc((size_t)ob.len);
    int r = 0;
    if (!bad && offsets) {
        memcpy(offsets, ob.buf, (size_t)ob.len); /* native-endian int32 pairs */
        for (Py_ssize_t t = 0; t < 2 * count && !bad; t++) {
            const int32_t v = offsets[t];
            bad = v < -LINE_MAX_R || v > LINE_MAX_R;
            r = (v < 0 ? -v : v) > r ? (v < 0 ? -v : v) : r;
        }
    }
    PyBuffer_Release(&ob);
    if (bad) {
        PyMem_RawFree(offsets);
        augcli_release_pair(&p);
        PyErr_SetString(PyExc_ValueError, "line_mean: 1 to 63 (dx, dy) int32 pairs within +-256, mult < 2^16, shift <= 31");
        return NULL;
    }
    window_rows wr;
    memset(&wr, 0, sizeof wr);
    if (!offsets || augcli_window_init(&wr, p.src.buf, p.w, p.h, p.bpp, r)) {
        PyErr_NoMemory();
    } else {
        const int path = augcli_pixel_path;
        const line_row_fn row = line_row_for(path);
        const size_t n = (size_t)p.w * p.bpp;
        uint8_t *dst = p.dst.buf;
        uint16_t sum[LINE_BLOCK];
        Py_BEGIN_ALLOW_THREADS
        for (int y = 0; y < p.h; y++) {
            augcli_window_advance(&wr, y);
            row(wr.rows, dst + (size_t)y * n, sum, n, p.bpp, r, offsets, (int)count, (uint32_t)mult, shift);
            augcli_row_copy_extra(wr.src + (size_t)y * n, dst + (size_t)y * n, p.w, p.bpp, p.nc);
        }
        Py_END_ALLOW_THREADS
    }
    augcli_window_free(&wr);
    PyMem_RawFree(offsets);
    augcli_release_pair(&p);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* Uniform noise in a box, in place: pixel i = y w + x of the image takes colour band c from byte c
 * of mix64(key + (i + 1) golden) (the noise kernels' counter-based generator); other bytes kept. */
PyObject *augcli_py_fill_noise(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer dst;
    int w, h, bpp, nc, x0, y0, bw, bh;
    unsigned long long key;
    if (!PyArg_ParseTuple(args, "w*iiiiiiiiK", &dst, &w, &h, &bpp, &nc, &x0, &y0, &bw, &bh, &key))
        return NULL;
    const int bad = w < 1 || h < 1 || w > (1 << 30) || h > (1 << 30) || bpp < 1 || bpp > 4 || nc < 1 || nc > bpp ||
                    dst.len != (Py_ssize_t)w * h * bpp || x0 < 0 || y0 < 0 || bw < 0 || bh < 0 || bw > w - x0 ||
                    bh > h - y0;
    if (bad) {
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, "fill_noise: the box must lie inside a w x h image of bpp bytes a pixel");
        return NULL;
    }
    uint8_t *d = dst.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int y = y0; y < y0 + bh; y++)
        for (int x = x0; x < x0 + bw; x++) {
            const uint64_t i = (uint64_t)y * (uint64_t)w + (uint64_t)x;
            const uint64_t r = augcli_mix64((uint64_t)key + (i + 1) * AUGCLI_GOLDEN);
            for (int c = 0; c < nc; c++)
                d[i * bpp + c] = (uint8_t)(r >> (8 * c));
        }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&dst);
    Py_RETURN_NONE;
}
