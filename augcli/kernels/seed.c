/* numpy's SeedSequence, in C: the PCG64 state that
 *     numpy.random.SeedSequence(entropy, spawn_key=...).generate_state(4, numpy.uint64)
 * gives, from the assembled entropy words (SeedSequence.get_assembled_entropy). The same integers
 * (O'Neill's seed_seq hash as numpy implements it, pool size 4), about a hundred times faster: augcli
 * makes one generator per op per output, and SeedSequence's own set-up cost more than the draws.
 * augcli.seeding assembles the words and tests/test_seeding.py compares with numpy itself. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define POOL 4
#define INIT_A 0x43b0d7e5u
#define MULT_A 0x931e8875u
#define INIT_B 0x8b51f9ddu
#define MULT_B 0x58f38dedu
#define MIX_MULT_L 0xca01f9ddu
#define MIX_MULT_R 0x4973f715u
#define XSHIFT 16

static uint32_t hashmix(uint32_t value, uint32_t *hash)
{
    value ^= *hash;
    *hash *= MULT_A;
    value *= *hash;
    return value ^ (value >> XSHIFT);
}

static uint32_t mix(uint32_t x, uint32_t y)
{
    const uint32_t r = MIX_MULT_L * x - MIX_MULT_R * y;
    return r ^ (r >> XSHIFT);
}

/* seed_state(words) -> 32 bytes: four little-endian uint64, from little-endian uint32 words */
static PyObject *py_seed_state(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (b.len % 4 != 0 || b.len == 0) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "seed_state: the entropy must be a whole number of 32-bit words, at least one");
        return NULL;
    }
    const Py_ssize_t n = b.len / 4;
    const unsigned char *p = b.buf;
    uint32_t pool[POOL], hash = INIT_A;
#define WORD(i) ((uint32_t)p[4 * (i)] | (uint32_t)p[4 * (i) + 1] << 8 | (uint32_t)p[4 * (i) + 2] << 16 | (uint32_t)p[4 * (i) + 3] << 24)
    for (int i = 0; i < POOL; i++)
        pool[i] = hashmix(i < n ? WORD(i) : 0, &hash);
    for (int s = 0; s < POOL; s++)
        for (int d = 0; d < POOL; d++)
            if (s != d)
                pool[d] = mix(pool[d], hashmix(pool[s], &hash));
    for (Py_ssize_t s = POOL; s < n; s++)
        for (int d = 0; d < POOL; d++)
            pool[d] = mix(pool[d], hashmix(WORD(s), &hash));
#undef WORD
    PyBuffer_Release(&b);
    unsigned char out[8 * POOL];
    uint32_t h = INIT_B;
    for (int i = 0; i < 2 * POOL; i++) { /* generate_state(4, uint64): 8 words, pairs low word first */
        uint32_t v = pool[i % POOL] ^ h;
        h *= MULT_B;
        v *= h;
        v ^= v >> XSHIFT;
        for (int k = 0; k < 4; k++)
            out[4 * i + k] = (unsigned char)(v >> (8 * k));
    }
    return PyBytes_FromStringAndSize((const char *)out, sizeof out);
}

/* ---------------------------------------------------------------------------------------------
 * Plan scheme 2: Stream, one op's random values for one output (augcli.seeding documents the
 * scheme; tests/test_seeding.py checks this against a plain Python rendering of it). SplitMix64:
 * word i (from 1) is mix(start + i * GAMMA), start = mix(key ^ salt). Integer arithmetic only. */

#define GAMMA 0x9E3779B97F4A7C15ull

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct {
    PyObject_HEAD
    uint64_t state;
} StreamObject;

static uint64_t next_word(StreamObject *st)
{
    st->state += GAMMA;
    return mix64(st->state);
}

/* the top 53 bits of a word times 2**-53: exact, in [0, 1) */
static double next_unit(StreamObject *st)
{
    return (double)(next_word(st) >> 11) * (1.0 / 9007199254740992.0);
}

/* high and low 64 bits of a * b, in 32-bit halves (no 128-bit type on every compiler) */
static void mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    const uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, b0 = b & 0xFFFFFFFFu, b1 = b >> 32;
    const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFu) + (p10 & 0xFFFFFFFFu);
    *lo = (mid << 32) | (p00 & 0xFFFFFFFFu);
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/* an integer in [0, n), n >= 1, by Lemire's multiply-and-reject: exactly uniform; n == 0 stands
 * for 2**64 (a whole word) */
static uint64_t next_below(StreamObject *st, uint64_t n)
{
    if (n == 0)
        return next_word(st);
    uint64_t hi, lo;
    mul128(next_word(st), n, &hi, &lo);
    if (lo < n) {
        const uint64_t threshold = (0 - n) % n;  /* 2**64 mod n */
        while (lo < threshold)
            mul128(next_word(st), n, &hi, &lo);
    }
    return hi;
}

static int read_u64(PyObject *obj, const char *what, uint64_t *out)
{
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "Stream: %s must be an int", what);
        return -1;
    }
    const unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "Stream: %s must be between 0 and 2**64 - 1", what);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static PyObject *Stream_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"key", "salt", NULL};
    PyObject *key_obj, *salt_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:Stream", kwlist, &key_obj, &salt_obj))
        return NULL;
    uint64_t key, salt = 0;
    if (read_u64(key_obj, "key", &key) < 0 || (salt_obj && read_u64(salt_obj, "salt", &salt) < 0))
        return NULL;
    StreamObject *st = (StreamObject *)type->tp_alloc(type, 0);
    if (st == NULL)
        return NULL;
    st->state = mix64(key ^ salt);
    return (PyObject *)st;
}

/* size: None (one value) or a whole number n >= 0 (a list of n values); -1 = None, -2 = error */
static Py_ssize_t read_size(PyObject *size)
{
    if (size == NULL || size == Py_None)
        return -1;
    if (!PyLong_Check(size) || PyBool_Check(size)) {
        PyErr_SetString(PyExc_TypeError, "size must be a whole number of values");
        return -2;
    }
    const Py_ssize_t n = PyLong_AsSsize_t(size);
    if (n < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "size must not be negative");
        return -2;
    }
    return n;
}

static PyObject *Stream_word(StreamObject *st, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromUnsignedLongLong(next_word(st));
}

static PyObject *Stream_random(StreamObject *st, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"size", NULL};
    PyObject *size_obj = NULL;
    if (args != NULL && (PyTuple_GET_SIZE(args) != 0 || kwds != NULL) &&
        !PyArg_ParseTupleAndKeywords(args, kwds, "|O:random", kwlist, &size_obj))
        return NULL;
    const Py_ssize_t n = read_size(size_obj);
    if (n == -2)
        return NULL;
    if (n == -1)
        return PyFloat_FromDouble(next_unit(st));
    PyObject *list = PyList_New(n);
    for (Py_ssize_t i = 0; list != NULL && i < n; i++) {
        PyObject *v = PyFloat_FromDouble(next_unit(st));
        if (v == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

/* low + (high - low) * unit: numpy's formula, two correctly rounded operations */
static PyObject *Stream_uniform(StreamObject *st, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"low", "high", "size", NULL};
    double low = 0.0, high = 1.0;
    PyObject *size_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|ddO:uniform", kwlist, &low, &high, &size_obj))
        return NULL;
    const Py_ssize_t n = read_size(size_obj);
    if (n == -2)
        return NULL;
    const double span = high - low;
    if (n == -1)
        return PyFloat_FromDouble(low + span * next_unit(st));
    PyObject *list = PyList_New(n);
    for (Py_ssize_t i = 0; list != NULL && i < n; i++) {
        PyObject *v = PyFloat_FromDouble(low + span * next_unit(st));
        if (v == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

/* integers(low, high=None, size=None): low + an integer in [0, high - low); integers(n): [0, n).
 * high - low must be between 1 and 2**64. */
static PyObject *Stream_integers(StreamObject *st, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"low", "high", "size", NULL};
    PyObject *low = NULL, *high = NULL, *size_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:integers", kwlist, &low, &high, &size_obj))
        return NULL;
    const Py_ssize_t n = read_size(size_obj);
    if (n == -2)
        return NULL;
    PyObject *base, *top;
    if (high == NULL || high == Py_None) {
        base = PyLong_FromLong(0);
        top = PyNumber_Index(low);
    } else {
        base = PyNumber_Index(low);
        top = PyNumber_Index(high);
    }
    PyObject *span = (base && top) ? PyNumber_Subtract(top, base) : NULL;
    Py_XDECREF(top);
    if (span == NULL) {
        Py_XDECREF(base);
        return NULL;
    }
    /* span in [1, 2**64]: as a uint64 with 2**64 written as 0 */
    uint64_t range = 0;
    int overflow = 0;
    const long long small = PyLong_AsLongLongAndOverflow(span, &overflow);
    if (small == -1 && PyErr_Occurred()) {
        Py_DECREF(span);
        Py_DECREF(base);
        return NULL;
    }
    if (overflow == 0 && small >= 1) {
        range = (uint64_t)small;
    } else if (overflow > 0) {
        const unsigned long long big = PyLong_AsUnsignedLongLong(span);
        if (big == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            PyObject *two64 = PyLong_FromUnsignedLongLong(1ull << 63);
            PyObject *limit = two64 ? PyNumber_Add(two64, two64) : NULL;
            const int eq = limit ? PyObject_RichCompareBool(span, limit, Py_EQ) : -1;
            Py_XDECREF(two64);
            Py_XDECREF(limit);
            if (eq != 1) {
                Py_DECREF(span);
                Py_DECREF(base);
                if (eq == 0)
                    PyErr_SetString(PyExc_ValueError, "integers: the range is wider than 2**64");
                return NULL;
            }
            range = 0;
        } else {
            range = (uint64_t)big;
        }
    } else {
        Py_DECREF(span);
        Py_DECREF(base);
        PyErr_SetString(PyExc_ValueError, "integers: high must be above low");
        return NULL;
    }
    Py_DECREF(span);
    const int from_zero = PyObject_IsTrue(base) == 0;  /* an int: false only for 0 */
    PyObject *out = NULL;
    if (n == -1) {
        PyObject *r = PyLong_FromUnsignedLongLong(next_below(st, range));
        out = (r && !from_zero) ? PyNumber_Add(base, r) : r;
        if (r && !from_zero)
            Py_DECREF(r);
    } else {
        out = PyList_New(n);
        for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
            PyObject *r = PyLong_FromUnsignedLongLong(next_below(st, range));
            PyObject *v = (r && !from_zero) ? PyNumber_Add(base, r) : r;
            if (r && !from_zero)
                Py_DECREF(r);
            if (v == NULL) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, i, v);
        }
    }
    Py_DECREF(base);
    return out;
}

static PyMethodDef Stream_methods[] = {
    {"word", (PyCFunction)Stream_word, METH_NOARGS, "word() -> the next 64-bit word"},
    {"random", (PyCFunction)(void (*)(void))Stream_random, METH_VARARGS | METH_KEYWORDS,
     "random(size=None) -> a float in [0, 1) (a list of size of them)"},
    {"uniform", (PyCFunction)(void (*)(void))Stream_uniform, METH_VARARGS | METH_KEYWORDS,
     "uniform(low=0.0, high=1.0, size=None) -> low + (high - low) * random()"},
    {"integers", (PyCFunction)(void (*)(void))Stream_integers, METH_VARARGS | METH_KEYWORDS,
     "integers(low, high=None, size=None) -> an int in [low, high) ([0, low) without high)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "augcli.kernels._seed.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Stream(key, salt=0): SplitMix64 from mix(key ^ salt) (plan scheme 2)",
    .tp_new = Stream_new,
    .tp_methods = Stream_methods,
};

static PyMethodDef methods[] = {
    {"seed_state", py_seed_state, METH_O, "seed_state(words) -> numpy's SeedSequence.generate_state(4, uint64) as 32 bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_seed", "numpy's SeedSequence hash, and plan scheme 2's Stream, in C", -1, methods};

PyMODINIT_FUNC PyInit__seed(void)
{
    if (PyType_Ready(&StreamType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&StreamType);
    if (PyModule_AddObject(m, "Stream", (PyObject *)&StreamType) < 0) {
        Py_DECREF(&StreamType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
