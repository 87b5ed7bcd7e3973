/* Shared helpers of augcli's kernels: CPU paths and fixed-point arithmetic.
 *
 * Rule: every path (scalar, AVX2, AVX-512) computes exactly the same integers, so the same seed
 * gives the same bytes on every machine. Floating point appears only in the shared scalar set-up
 * code (compiled once, with -ffp-contract=off), never inside a SIMD path.
 */
#ifndef AUGCLI_KERNELS_COMMON_H
#define AUGCLI_KERNELS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef AUGCLI_X86 /* -DAUGCLI_X86=0 builds the portable code alone, as on aarch64 (tested) */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define AUGCLI_X86 1
#else
#define AUGCLI_X86 0
#endif
#endif

enum { AUGCLI_SCALAR = 0, AUGCLI_AVX2 = 1, AUGCLI_AVX512 = 2, AUGCLI_NPATHS = 3 };

static const char *const augcli_path_names[AUGCLI_NPATHS] = {"scalar", "avx2", "avx512"};

/* Can this CPU run path p? (The scalar path runs everywhere.) */
static inline int augcli_cpu_has(int p)
{
    if (p == AUGCLI_SCALAR)
        return 1;
#if AUGCLI_X86
    __builtin_cpu_init();
    if (p == AUGCLI_AVX2)
        return __builtin_cpu_supports("avx2");
    if (p == AUGCLI_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
    return 0;
}

/* The best path this CPU has. */
static inline int augcli_best_path(void)
{
    for (int p = AUGCLI_NPATHS - 1; p > 0; p--)
        if (augcli_cpu_has(p))
            return p;
    return AUGCLI_SCALAR;
}

/* The high 16 bits of a 16 x 16-bit product: exactly what _mm*_mulhi_epu16 computes per lane. */
static inline uint32_t augcli_mulhi16(uint32_t a, uint32_t b)
{
    return (a * b) >> 16;
}

/* ---- shared by the pixel kernels (pixel.c, filters.c) ---- */

/* Clamp an integer to 0..255. */
static inline uint8_t augcli_u8(int64_t v)
{
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

/* splitmix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mix. The noise
 * kernels use it as a counter-based generator: sample i of a stream keyed k is
 * augcli_mix64(k + (i + 1) * AUGCLI_GOLDEN), so any sample is computed without the others. */
#define AUGCLI_GOLDEN 0x9E3779B97F4A7C15ULL
static inline uint64_t augcli_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}


#ifdef Py_PYTHON_H
/* The Python face every kernel module shares: which paths this CPU has, and a path by name. */

static inline PyObject *augcli_available_paths(void)
{
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    for (int p = 0; p < AUGCLI_NPATHS; p++) {
        if (augcli_cpu_has(p)) {
            PyObject *name = PyUnicode_FromString(augcli_path_names[p]);
            if (!name || PyList_Append(out, name) < 0) {
                Py_XDECREF(name);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(name);
        }
    }
    return out;
}

/* The path named by the str ``arg``, or -1 with ValueError set (unknown, or not on this CPU). */
static inline int augcli_path_named(PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return -1;
    for (int p = 0; p < AUGCLI_NPATHS; p++) {
        if (strcmp(name, augcli_path_names[p]) == 0) {
            if (augcli_cpu_has(p))
                return p;
            PyErr_Format(PyExc_ValueError, "this CPU cannot run the %s kernels", name);
            return -1;
        }
    }
    PyErr_Format(PyExc_ValueError, "unknown kernel path %s", name);
    return -1;
}

/* Module set-up shared by the kernel modules: the kernels rely on arithmetic right shifts (floor);
 * 0 when they hold, -1 with ImportError set when they do not. */
static inline int augcli_check_shifts(void)
{
    if ((-1LL >> 1) == -1LL && ((int32_t)-1 >> 1) == -1)
        return 0;
    PyErr_SetString(PyExc_ImportError, "augcli kernels need arithmetic right shifts");
    return -1;
}

/* The three path functions of a kernel module (available, set_path, path) over its path variable. */
#define AUGCLI_PATH_FUNCTIONS(var)                                                                      \
    static PyObject *py_available(PyObject *self, PyObject *noargs)                                    \
    {                                                                                                   \
        (void)self;                                                                                     \
        (void)noargs;                                                                                   \
        return augcli_available_paths();                                                                \
    }                                                                                                   \
    static PyObject *py_set_path(PyObject *self, PyObject *arg)                                         \
    {                                                                                                   \
        (void)self;                                                                                     \
        const int p = augcli_path_named(arg);                                                           \
        if (p < 0)                                                                                      \
            return NULL;                                                                                \
        var = p;                                                                                        \
        Py_RETURN_NONE;                                                                                 \
    }                                                                                                   \
    static PyObject *py_path(PyObject *self, PyObject *noargs)                                          \
    {                                                                                                   \
        (void)self;                                                                                     \
        (void)noargs;                                                                                   \
        return PyUnicode_FromString(augcli_path_names[var]);                                            \
    }
#endif

#endif
