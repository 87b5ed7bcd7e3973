/* The elastic field's lattice smoothing (augcli.distort.elastic_lattice) and the bilinear lookup of
 * the distortion fields' lattices at points (augcli.distort._bilinear), part of the _pixel module.
 *
 * A separable Gaussian over planes of float64 noise, each output the sum of its taps' products in
 * tap order: across[y][x] = t0 n[y][x] + t1 n[y][x + 1] + ... (each step one IEEE product and one
 * IEEE sum, added left to right), then the same down the columns of `across`. These are the float
 * operations the numpy form (one ufunc per tap) performs, element by element, so the results are
 * the same bits; the build has no contraction into FMAs (-ffp-contract=off, /fp:precise), and a
 * vectorised loop (SSE2, AVX2 or AVX-512, by path) computes each lane with the same operations.
 */
#include "pixel.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* vectorise the tap loops (IEEE products and sums, lane by lane) */
#endif

#define LATTICE_MAX_TAPS 4097

/* one plane: noise (ny + k - 1) x (nx + k - 1), out ny x nx, scratch (ny + k - 1) x nx; built for
 * every path (wider vectors, the same IEEE products and sums in each lane) */
AUGCLI_INLINE void smooth_body(const double *restrict noise, double *restrict out, double *restrict across, int ny,
                               int nx, const double *restrict t, int k)
{
    const int hn = ny + k - 1, wn = nx + k - 1;
    /* rows: each sum kept in a register over the taps, 8 outputs at a time (per output the same
     * products and sums in tap order) */
    for (int y = 0; y < hn; y++) {
        const double *n = noise + (size_t)y * wn;
        double *a = across + (size_t)y * nx;
        int x = 0;
        for (; x + 8 <= nx; x += 8) {
            double acc[8];
            for (int l = 0; l < 8; l++)
                acc[l] = t[0] * n[x + l];
            for (int j = 1; j < k; j++)
                for (int l = 0; l < 8; l++)
                    acc[l] = acc[l] + t[j] * n[x + j + l];
            for (int l = 0; l < 8; l++)
                a[x + l] = acc[l];
        }
        for (; x < nx; x++) {
            double acc = t[0] * n[x];
            for (int j = 1; j < k; j++)
                acc = acc + t[j] * n[x + j];
            a[x] = acc;
        }
    }
    /* columns, the same way down */
    for (int y = 0; y < ny; y++) {
        double *o = out + (size_t)y * nx;
        const double *a = across + (size_t)y * nx;
        int x = 0;
        for (; x + 8 <= nx; x += 8) {
            double acc[8];
            for (int l = 0; l < 8; l++)
                acc[l] = t[0] * a[x + l];
            for (int j = 1; j < k; j++)
                for (int l = 0; l < 8; l++)
                    acc[l] = acc[l] + t[j] * a[(size_t)j * nx + x + l];
            for (int l = 0; l < 8; l++)
                o[x + l] = acc[l];
        }
        for (; x < nx; x++) {
            double acc = t[0] * a[x];
            for (int j = 1; j < k; j++)
                acc = acc + t[j] * a[(size_t)j * nx + x];
            o[x] = acc;
        }
    }
}
AUGCLI_DISPATCH(smooth, (const double *noise, double *out, double *across, int ny, int nx, const double *t, int k),
                (noise, out, across, ny, nx, t, k))

/* smooth_lattice(noise, out, planes, ny, nx, taps): noise planes x (ny + k - 1) x (nx + k - 1) and
 * out planes x ny x nx, native float64; taps k float64. */
PyObject *augcli_py_smooth_lattice(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer noise, out, taps;
    int planes, ny, nx;
    if (!PyArg_ParseTuple(args, "y*w*iiiy*", &noise, &out, &planes, &ny, &nx, &taps))
        return NULL;
    const Py_ssize_t k = taps.len / (Py_ssize_t)sizeof(double);
    int bad = planes < 1 || ny < 1 || nx < 1 || planes > 16 || ny > (1 << 20) || nx > (1 << 20) || k < 1 ||
              k > LATTICE_MAX_TAPS || taps.len != k * (Py_ssize_t)sizeof(double);
    const size_t hn = bad ? 0 : (size_t)ny + (size_t)k - 1, wn = bad ? 0 : (size_t)nx + (size_t)k - 1;
    if (!bad)
        bad = noise.len != (Py_ssize_t)(planes * hn * wn * sizeof(double)) ||
              out.len != (Py_ssize_t)((size_t)planes * ny * nx * sizeof(double));
    double *across = bad ? NULL : PyMem_RawMalloc(hn * (size_t)nx * sizeof(double));
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "smooth_lattice: planes x (ny + k - 1) x (nx + k - 1) float64 noise, "
                                          "planes x ny x nx float64 out, 1 to 4097 taps");
    } else if (!across) {
        PyErr_NoMemory();
    } else {
        double t[LATTICE_MAX_TAPS];
        memcpy(t, taps.buf, (size_t)k * sizeof(double));
        const double *n = noise.buf;
        double *o = out.buf;
        const smooth_fn smooth = smooth_for(augcli_pixel_path);
        Py_BEGIN_ALLOW_THREADS
        for (int p = 0; p < planes; p++)
            smooth(n + (size_t)p * hn * wn, o + (size_t)p * ny * nx, across, ny, nx, t, (int)k);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(across);
    PyBuffer_Release(&noise);
    PyBuffer_Release(&out);
    PyBuffer_Release(&taps);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* numpy's clip of a float64 that is not NaN: a value equal to a bound is kept (clip(-0.0, 0.0, hi)
 * is -0.0, as numpy gives) */
static inline double np_clip(double v, double lo, double hi)
{
    const double m = v < lo ? lo : v;
    return m > hi ? hi : m;
}

/* floor(v) for the cell index only (the sign of a zero result is lost, which the int64 cell does
 * not see): a truncation where |v| < 2^52, v itself beyond (already whole, or infinite) */
static inline double cell_floor(double v)
{
    if (!(v > -4503599627370496.0 && v < 4503599627370496.0))
        return v;
    const double t = (double)(int64_t)v;
    return t > v ? t - 1.0 : t;
}

/* bilinear(values, out, ny, nx, nc, fx, fy, extend): ``values`` ny x nx x nc float64 at n points
 * (fx[i], fy[i]) in lattice units, into out n x nc; the float operations of distort._bilinear's
 * numpy form, element by element: without extend the coordinates clipped to the lattice; the cell
 * ix = clip(floor(x), 0, nx - 2) (0 when nx = 1), tx = x - ix; the right and lower neighbours the
 * cell's own on a one-node axis; (v00 (1 - tx) + v01 tx) (1 - ty) + (v10 (1 - tx) + v11 tx) ty.
 * A NaN coordinate is a ValueError (numpy's form failed on it too). */
PyObject *augcli_py_bilinear(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer values, out, fxb, fyb;
    int ny, nx, nc, extend;
    if (!PyArg_ParseTuple(args, "y*w*iiiy*y*p", &values, &out, &ny, &nx, &nc, &fxb, &fyb, &extend))
        return NULL;
    const Py_ssize_t n = fxb.len / (Py_ssize_t)sizeof(double);
    int bad = ny < 1 || nx < 1 || nc < 1 || nc > 16 || ny > (1 << 24) || nx > (1 << 24) ||
              fxb.len != n * (Py_ssize_t)sizeof(double) || fyb.len != fxb.len ||
              values.len != (Py_ssize_t)((size_t)ny * nx * nc * sizeof(double)) ||
              out.len != (Py_ssize_t)((size_t)n * nc * sizeof(double));
    int nan = 0;
    if (!bad) {
        const double *v = values.buf, *fx = fxb.buf, *fy = fyb.buf;
        double *o = out.buf;
        const double hx = nx - 2 > 0 ? nx - 2 : 0, hy = ny - 2 > 0 ? ny - 2 : 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            double x = fx[i], y = fy[i];
            if (x != x || y != y) {
                nan = 1;
                break;
            }
            if (!extend) {
                x = np_clip(x, 0.0, nx - 1.0);
                y = np_clip(y, 0.0, ny - 1.0);
            }
            const int64_t ix = (int64_t)np_clip(cell_floor(x), 0.0, hx), iy = (int64_t)np_clip(cell_floor(y), 0.0, hy);
            const double tx = x - (double)ix, ty = y - (double)iy, sx = 1.0 - tx, sy = 1.0 - ty;
            const int64_t dx = (ix + 1 < nx - 1 ? ix + 1 : nx - 1) - ix, dy = ((iy + 1 < ny - 1 ? iy + 1 : ny - 1) - iy) * nx;
            const double *a = v + (size_t)(iy * nx + ix) * nc, *b = a + dx * nc, *c = a + dy * nc, *d = c + dx * nc;
            for (int k = 0; k < nc; k++) {
                const double top = a[k] * sx + b[k] * tx, bot = c[k] * sx + d[k] * tx;
                o[i * nc + k] = top * sy + bot * ty;
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&values);
    PyBuffer_Release(&out);
    PyBuffer_Release(&fxb);
    PyBuffer_Release(&fyb);
    if (bad || nan) {
        PyErr_SetString(PyExc_ValueError, bad ? "bilinear: ny x nx x nc float64 values, n float64 x and y, n x nc out"
                                              : "bilinear: a coordinate is NaN");
        return NULL;
    }
    Py_RETURN_NONE;
}
