/* The elastic field's lattice smoothing (augcli.distort.elastic_lattice), part of the _pixel module.
 *
 * A separable Gaussian over planes of float64 noise, each output the sum of its taps' products in
 * tap order: across[y][x] = t0 n[y][x] + t1 n[y][x + 1] + ... (each step one IEEE product and one
 * IEEE sum, added left to right), then the same down the columns of `across`. These are the float
 * operations the numpy form (one ufunc per tap) performs, element by element, so the results are
 * the same bits; the build has no contraction into FMAs (-ffp-contract=off, /fp:precise), and a
 * vectorised loop computes each lane with the same operations.
 */
#include "pixel.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* vectorise the tap loops (IEEE products and sums, lane by lane) */
#endif

#define LATTICE_MAX_TAPS 4097

/* one plane: noise (ny + k - 1) x (nx + k - 1), out ny x nx, scratch (ny + k - 1) x nx */
static void smooth_plane(const double *restrict noise, double *restrict out, double *restrict across, int ny, int nx,
                         const double *restrict t, int k)
{
    const int hn = ny + k - 1, wn = nx + k - 1;
    for (int y = 0; y < hn; y++) {
        const double *n = noise + (size_t)y * wn;
        double *a = across + (size_t)y * nx;
        for (int x = 0; x < nx; x++)
            a[x] = t[0] * n[x];
        for (int j = 1; j < k; j++) {
            const double tj = t[j];
            for (int x = 0; x < nx; x++)
                a[x] = a[x] + tj * n[x + j];
        }
    }
    for (int y = 0; y < ny; y++) {
        double *o = out + (size_t)y * nx;
        const double *a = across + (size_t)y * nx;
        for (int x = 0; x < nx; x++)
            o[x] = t[0] * a[x];
        for (int j = 1; j < k; j++) {
            const double tj = t[j], *aj = a + (size_t)j * nx;
            for (int x = 0; x < nx; x++)
                o[x] = o[x] + tj * aj[x];
        }
    }
}

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
        Py_BEGIN_ALLOW_THREADS
        for (int p = 0; p < planes; p++)
            smooth_plane(n + (size_t)p * hn * wn, o + (size_t)p * ny * nx, across, ny, nx, t, (int)k);
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
