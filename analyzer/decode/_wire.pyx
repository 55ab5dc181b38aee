# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled part of `_proto_scan`: a protobuf wire reader for OTLP ``TracesData`` records.

Compiled from Cython to C when the package is installed. Every read is checked against the bounds of the
message it is in (the records are untrusted input); a record with anything unexpected is marked not ok
and left to upb. Nothing here raises for bad input or allocates per span.
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcmp, memcpy


cdef extern from *:
    void __builtin_prefetch(const void *addr) nogil
    int __builtin_ctzll(unsigned long long x) nogil


# Columns of the span table (as in _proto_scan)
cdef enum:
    HAS_PARENT = 0
    NAME = 1
    STATUS = 2
    ATTRIBUTES = 3
    KIND = 4
    START = 5
    END = 6
    # Columns of the scope table
    RECORD = 0
    RS_INDEX = 1
    SS_INDEX = 2
    FIRST_SPAN = 3
    RESOURCE = 4
    RESOURCE_LEN = 5
    SCOPE = 6
    SCOPE_LEN = 7
    RS_SCHEMA = 8
    RS_SCHEMA_LEN = 9
    SS_SCHEMA = 10
    SS_SCHEMA_LEN = 11
    # Rows of a text table's `firsts`
    AT = 0
    SIZE = 1
    HASH = 2
    TRACE_BYTES = 16
    SPAN_BYTES = 8
    # Wire types
    VARINT = 0
    I64 = 1
    LEN = 2
    I32 = 5
    AHEAD = 4096  # bytes asked for ahead of the walk: its reads depend on each other, one miss at a time
    LINE = 64

# Span fields by number (opentelemetry/proto/trace/v1/trace.proto): the wire type each must have (-1: no
# such field). Attributes (9), events (11) and links (13) are repeated, the others singular.
cdef int64_t SPAN_WIRE[17]
SPAN_WIRE[:] = [-1, LEN, LEN, LEN, LEN, LEN, VARINT, I64, I64, LEN, VARINT, LEN, VARINT, LEN, VARINT, LEN, I32]
cdef int64_t REPEATED = (1 << 9) | (1 << 11) | (1 << 13)
cdef const char *HEX_DIGITS = b"0123456789abcdef"
# What a byte of JSON is to `values` outside strings: 0 nothing it counts.
cdef enum:
    QUOTE = 1
    OPEN = 2
    CLOSE = 3
    COMMA = 4
cdef uint8_t JSON_CLASS[256]
JSON_CLASS[:] = [0] * 256
for _byte, _class in ((b'"', QUOTE), (b"[", OPEN), (b"{", OPEN), (b"]", CLOSE), (b"}", CLOSE), (b",", COMMA)):
    JSON_CLASS[ord(_byte)] = _class


cdef struct Field:
    int64_t number
    int64_t wire
    int64_t value  # a varint's value, or a LEN field's length
    int64_t body  # where the value starts
    int64_t next  # where the next field starts; -1 if the field is damaged or a group


cdef struct Found:  # what a ScopeSpans or ResourceSpans holds besides its list
    int64_t at
    int64_t size
    int64_t schema_at
    int64_t schema_size


cdef struct Tables:  # the arrays the walk fills
    int64_t *spans  # (7, n spans), row-major: spans[column * n + row]
    int64_t n
    int64_t *scopes  # (12, n scopes)
    int64_t n_scopes
    uint8_t *trace_hex  # (n, 32)
    uint8_t *span_hex  # (n, 16)
    uint8_t *parent_hex  # (n, 16)
    int64_t *slots  # (3, capacity): code, or -1 for an empty slot
    int64_t capacity  # a power of two
    int64_t *firsts  # (3, 3, capacity // 2): offset, size and hash of each code's first string
    int64_t *codes  # (3,): codes given so far


cdef inline int64_t varint(const uint8_t *buf, int64_t pos, int64_t end, int64_t *value) noexcept nogil:
    """Where the varint at pos ends (its 64 bits into value), or -1 if it runs past end or over 10 bytes."""
    cdef uint64_t v = 0
    cdef uint64_t b
    cdef int k
    if pos < end and buf[pos] < 0x80:  # most tags and lengths: one byte
        value[0] = buf[pos]
        return pos + 1
    for k in range(10):
        if pos >= end:
            return -1
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << (7 * k)
        if b < 0x80:
            value[0] = <int64_t>v
            return pos
    return -1


cdef inline bint field(const uint8_t *buf, int64_t pos, int64_t end, Field *f) noexcept nogil:
    """Read the field at pos into f; False if it is damaged or a group (f.next is then -1)."""
    cdef int64_t tag, p, q, size
    f.next = -1
    p = varint(buf, pos, end, &tag)
    if p < 0 or tag < 8 or tag >> 32:  # field numbers are below 2**29
        return False
    f.number, f.wire, f.value, f.body = tag >> 3, tag & 7, 0, p
    if f.wire == LEN:
        q = varint(buf, p, end, &size)
        if q < 0 or size < 0 or size > end - q:
            return False
        f.value, f.body, f.next = size, q, q + size
    elif f.wire == VARINT:
        f.next = varint(buf, p, end, &f.value)
    elif f.wire == I64 or f.wire == I32:
        size = 8 if f.wire == I64 else 4
        if size > end - p:
            return False
        f.next = p + size
    return f.next >= 0


cdef inline int64_t word(const uint8_t *buf, int64_t at, int64_t size) noexcept nogil:
    """Up to 8 bytes at `at`, little-endian (as this machine: x86 and ARM alike)."""
    cdef int64_t value = 0
    memcpy(&value, buf + at, size)
    return value


cdef inline int64_t text_hash(const uint8_t *buf, int64_t at, int64_t size) noexcept nogil:
    cdef uint64_t h = <uint64_t>(size + 1) * 0x9E3779B97F4A7C15ULL
    cdef int64_t i = 0
    while i + 8 <= size:
        h = (h ^ <uint64_t>word(buf, at + i, 8)) * 0xBF58476D1CE4E5B9ULL
        h ^= h >> 31
        i += 8
    if i < size:
        h = (h ^ <uint64_t>word(buf, at + i, size - i)) * 0xBF58476D1CE4E5B9ULL
    return <int64_t>(h ^ (h >> 32))


cdef inline int64_t code(const uint8_t *buf, int64_t at, int64_t size, int column, Tables *t) noexcept nogil:
    """The code of buf[at:at+size] in text table `column`: an earlier string's if the bytes are equal (the
    hash only finds the candidates), else the next one (the caller made room)."""
    cdef int64_t h = text_hash(buf, at, size)
    cdef int64_t mask = t.capacity - 1
    cdef int64_t half = t.capacity // 2
    cdef int64_t *slots = t.slots + column * t.capacity
    cdef int64_t *firsts = t.firsts + column * 3 * half
    cdef int64_t slot = h & mask
    cdef int64_t c
    while True:
        c = slots[slot]
        if c < 0:
            break
        if (firsts[HASH * half + c] == h and firsts[SIZE * half + c] == size
                and memcmp(buf + firsts[AT * half + c], buf + at, size) == 0):
            return c
        slot = (slot + 1) & mask
    c = t.codes[column]
    t.codes[column] += 1
    slots[slot] = c
    firsts[AT * half + c], firsts[SIZE * half + c], firsts[HASH * half + c] = at, size, h
    return c


cdef inline void write_hex(const uint8_t *buf, int64_t at, int64_t size, uint8_t *out) noexcept nogil:
    cdef int64_t k
    for k in range(size):
        out[2 * k] = HEX_DIGITS[buf[at + k] >> 4]
        out[2 * k + 1] = HEX_DIGITS[buf[at + k] & 15]


cdef bint span(const uint8_t *buf, int64_t pos, int64_t end, int64_t row, Tables *t) noexcept nogil:
    """Fill row `row` from the Span at buf[pos:end]; False if it is one to leave to upb."""
    cdef Field f
    cdef int64_t seen = 0, bit, value
    cdef int64_t trace_at = -1, span_at = -1, parent_at = -1, attrs_at = -1, attrs_end = -1
    cdef int64_t name_at = pos, name_size = 0, status_at = pos, status_size = 0
    cdef int64_t *spans = t.spans
    cdef int64_t n = t.n
    cdef int64_t start = pos
    while pos < end:
        if not field(buf, pos, end, &f):
            return False
        if f.number <= 16:
            if f.wire != SPAN_WIRE[f.number]:
                return False  # upb would keep it as an unknown field
            bit = 1 << f.number
            if seen & bit and not bit & REPEATED:
                return False  # written twice: upb keeps the last (merges a status)
            seen |= bit
            if f.number == 1:
                if f.value != TRACE_BYTES:
                    return False
                trace_at = f.body
            elif f.number == 2:
                if f.value != SPAN_BYTES:
                    return False
                span_at = f.body
            elif f.number == 4:
                if f.value != SPAN_BYTES and f.value != 0:
                    return False
                if f.value and word(buf, f.body, SPAN_BYTES) != 0:  # all zeros: no parent
                    parent_at = f.body
            elif f.number == 5:
                name_at, name_size = f.body, f.value
            elif f.number == 6:
                spans[KIND * n + row] = <int32_t><uint32_t>f.value  # an int32 enum, as upb reads it
            elif f.number == 7 or f.number == 8:
                value = word(buf, f.body, 8)
                if value < 0:
                    return False  # beyond int64: upb's path clamps it and warns
                spans[(START if f.number == 7 else END) * n + row] = value
            elif f.number == 9:
                if attrs_at < 0:
                    attrs_at = pos
                elif attrs_end != pos:
                    return False  # not written one after another
                attrs_end = f.next
            elif f.number == 15:
                status_at, status_size = f.body, f.value
        pos = f.next
    if trace_at < 0 or span_at < 0:
        return False  # no trace or span id: upb's path reports it with its position
    if attrs_at < 0:
        attrs_at = attrs_end = start
    write_hex(buf, trace_at, TRACE_BYTES, t.trace_hex + row * 2 * TRACE_BYTES)
    write_hex(buf, span_at, SPAN_BYTES, t.span_hex + row * 2 * SPAN_BYTES)
    spans[HAS_PARENT * n + row] = parent_at >= 0
    if parent_at >= 0:
        write_hex(buf, parent_at, SPAN_BYTES, t.parent_hex + row * 2 * SPAN_BYTES)
    spans[NAME * n + row] = code(buf, name_at, name_size, 0, t)
    spans[STATUS * n + row] = code(buf, status_at, status_size, 1, t)
    spans[ATTRIBUTES * n + row] = code(buf, attrs_at, attrs_end - attrs_at, 2, t)
    return True


cdef inline void nothing(Found *found) noexcept nogil:
    found.at, found.size, found.schema_at, found.schema_size = -1, 0, -1, 0


cdef inline bint keep_once(Field *f, Found *found) noexcept nogil:
    """Keep where field 1 (the resource or scope) or 3 (the schema URL) of a ResourceSpans or ScopeSpans
    is; False if it came before (upb would merge the message, or keep the last URL)."""
    if (found.at if f.number == 1 else found.schema_at) >= 0:
        return False
    if f.number == 1:
        found.at, found.size = f.body, f.value
    else:
        found.schema_at, found.schema_size = f.body, f.value
    return True


cdef bint scope_spans(const uint8_t *buf, int64_t pos, int64_t end, bint fill, int64_t *row, Found *found,
                      Tables *t) noexcept nogil:
    """Read a ScopeSpans, and (fill) its spans into rows from row[0] on (row[0] ends past them)."""
    cdef Field f
    cdef int64_t ahead = pos
    nothing(found)
    while pos < end:
        while ahead < pos + AHEAD and ahead < end:
            __builtin_prefetch(buf + ahead)
            ahead += LINE
        if not field(buf, pos, end, &f) or (f.number <= 3 and f.wire != LEN):
            return False
        if f.number == 2:
            if fill and not span(buf, f.body, f.next, row[0], t):
                return False
            row[0] += 1
        elif (f.number == 1 or f.number == 3) and not keep_once(&f, found):
            return False
        pos = f.next
    return True


cdef inline void scope_row(Tables *t, int64_t s, int64_t record, int64_t ri, int64_t si, int64_t first_row,
                           Found *scope) noexcept nogil:
    cdef int64_t m = t.n_scopes
    t.scopes[RECORD * m + s], t.scopes[RS_INDEX * m + s] = record, ri
    t.scopes[SS_INDEX * m + s], t.scopes[FIRST_SPAN * m + s] = si, first_row
    t.scopes[SCOPE * m + s], t.scopes[SCOPE_LEN * m + s] = scope.at, scope.size
    t.scopes[SS_SCHEMA * m + s], t.scopes[SS_SCHEMA_LEN * m + s] = scope.schema_at, scope.schema_size


cdef bint resource_spans(const uint8_t *buf, int64_t pos, int64_t end, int64_t record, int64_t ri, bint fill,
                         int64_t *row, int64_t *scope, Tables *t) noexcept nogil:
    """Read a ResourceSpans (row[0], scope[0]: the next span and scope rows, moved past its own)."""
    cdef Field f
    cdef Found resource, found, none
    cdef int64_t first_scope = scope[0], first_row, si = 0, s, m = t.n_scopes
    nothing(&resource)
    nothing(&none)
    while pos < end:
        if not field(buf, pos, end, &f) or (f.number <= 3 and f.wire != LEN):
            return False
        if f.number == 2:
            first_row = row[0]
            if not scope_spans(buf, f.body, f.next, fill, row, &found, t):
                return False
            if fill:
                scope_row(t, scope[0], record, ri, si, first_row, &found)
            scope[0] += 1
            si += 1
        elif (f.number == 1 or f.number == 3) and not keep_once(&f, &resource):
            return False
        pos = f.next
    if si == 0:  # no ScopeSpans: a row all the same, for its resource
        if fill:
            scope_row(t, scope[0], record, ri, -1, row[0], &none)
        scope[0] += 1
    if fill:  # the resource may come after the scopes
        for s in range(first_scope, scope[0]):
            t.scopes[RESOURCE * m + s], t.scopes[RESOURCE_LEN * m + s] = resource.at, resource.size
            t.scopes[RS_SCHEMA * m + s], t.scopes[RS_SCHEMA_LEN * m + s] = resource.schema_at, resource.schema_size
    return True


def walk(const uint8_t[::1] data, const int64_t[::1] starts, const int64_t[::1] ends, int64_t record,
         bint fill, uint8_t[::1] ok, int64_t[::1] first_span, int64_t[::1] first_scope,
         int64_t[:, ::1] spans, int64_t[:, ::1] scopes, uint8_t[:, ::1] trace_hex, uint8_t[:, ::1] span_hex,
         uint8_t[:, ::1] parent_hex, int64_t[:, ::1] slots, int64_t[:, :, ::1] firsts,
         int64_t[::1] codes) -> int:
    """From `record` on: count (fill False: spans and scopes per record into first_span, first_scope) or
    fill the tables (rows from first_span, first_scope); a record found unusual gets ok 0. Returns
    len(starts), or the record before which a text table must grow (filling only)."""
    cdef Tables t
    cdef const uint8_t *buf = &data[0] if data.shape[0] else NULL
    cdef int64_t n = starts.shape[0], r, row, scope, pos, end, ri, most, stop = starts.shape[0]
    cdef Field f
    t.n, t.n_scopes = spans.shape[1], scopes.shape[1]
    t.spans = &spans[0, 0] if spans.size else NULL
    t.scopes = &scopes[0, 0] if scopes.size else NULL
    t.trace_hex = &trace_hex[0, 0] if trace_hex.size else NULL
    t.span_hex = &span_hex[0, 0] if span_hex.size else NULL
    t.parent_hex = &parent_hex[0, 0] if parent_hex.size else NULL
    t.slots, t.capacity = &slots[0, 0], slots.shape[1]
    t.firsts, t.codes = &firsts[0, 0, 0], &codes[0]
    with nogil:
        for r in range(record, n):
            if fill:
                if not ok[r]:
                    continue  # rows reserved by the count, never filled
                most = max(t.codes[0], max(t.codes[1], t.codes[2]))
                if most + first_span[r + 1] - first_span[r] > t.capacity // 2:
                    stop = r
                    break
                row, scope = first_span[r], first_scope[r]
            else:
                row, scope = 0, 0
            pos, end, ri = starts[r], ends[r], 0
            while pos < end:
                if not field(buf, pos, end, &f) or (f.number == 1 and f.wire != LEN):
                    ok[r] = 0
                    break
                if f.number == 1:
                    if not resource_spans(buf, f.body, f.next, r, ri, fill, &row, &scope, &t):
                        ok[r] = 0
                        break
                    ri += 1
                pos = f.next
            if not fill:
                first_span[r], first_scope[r] = row, scope
    return stop


def rehash(int64_t[:, ::1] slots, const int64_t[:, :, ::1] firsts, const int64_t[::1] codes) -> None:
    """Put every code given so far into the (empty, larger) `slots`."""
    cdef int64_t mask = slots.shape[1] - 1, column, c, slot
    for column in range(slots.shape[0]):
        for c in range(codes[column]):
            slot = firsts[column, HASH, c] & mask
            while slots[column, slot] >= 0:
                slot = (slot + 1) & mask
            slots[column, slot] = c


def first_seen(const int64_t[::1] codes, uint8_t[::1] known):
    """The codes not `known` yet (updated) in order of first appearance in `codes`, and where each first
    appears: (codes, positions)."""
    cdef int64_t i, c, k = 0
    new = np.empty(known.shape[0], dtype=np.int64)
    at = np.empty(known.shape[0], dtype=np.int64)
    cdef int64_t[::1] new_v = new
    cdef int64_t[::1] at_v = at
    for i in range(codes.shape[0]):
        c = codes[i]
        if not known[c]:
            known[c] = 1
            new_v[k], at_v[k] = c, i
            k += 1
    return new[:k], at[:k]


def key_values(const uint8_t[::1] data, const int64_t[::1] at, const int64_t[::1] size):
    """Split runs of serialized ``Span.attributes`` fields (data[at[i]:at[i] + size[i]]: fields 9, one after
    another, as the walk found them) into their KeyValues, coded by bytes (equal bytes, equal code; numbered
    in order of first appearance). Returns (per run, where its KeyValues start in the next two, and one past
    the last; each KeyValue's code; per code, the offset of its first KeyValue's bytes; their size)."""
    cdef const uint8_t *buf = &data[0] if data.shape[0] else NULL
    cdef int64_t n = at.shape[0], r, pos, end, m = 0, c, h, slot, mask, capacity = 16
    cdef Field f
    for r in range(n):  # count, for the arrays' sizes
        pos, end = at[r], at[r] + size[r]
        while pos < end and field(buf, pos, end, &f):
            m += 1
            pos = f.next
    while capacity < 2 * m:
        capacity *= 2
    mask = capacity - 1
    first = np.zeros(n + 1, dtype=np.int64)
    codes = np.empty(m, dtype=np.int64)
    kv_at = np.empty(m, dtype=np.int64)
    kv_size = np.empty(m, dtype=np.int64)
    hashes = np.empty(m, dtype=np.int64)
    slots = np.full(capacity, -1, dtype=np.int64)
    cdef int64_t[::1] first_v = first, codes_v = codes, at_v = kv_at, size_v = kv_size, hash_v = hashes
    cdef int64_t[::1] slots_v = slots
    cdef int64_t k = 0, distinct = 0
    with nogil:
        for r in range(n):
            pos, end = at[r], at[r] + size[r]
            while pos < end and field(buf, pos, end, &f):
                h = text_hash(buf, f.body, f.value)
                slot = h & mask
                while True:
                    c = slots_v[slot]
                    if c < 0:
                        c = distinct
                        distinct += 1
                        slots_v[slot] = c
                        at_v[c], size_v[c], hash_v[c] = f.body, f.value, h
                        break
                    if hash_v[c] == h and size_v[c] == f.value and memcmp(buf + at_v[c], buf + f.body, f.value) == 0:
                        break
                    slot = (slot + 1) & mask
                codes_v[k] = c
                k += 1
                pos = f.next
            first_v[r + 1] = k
    return first, codes, kv_at[:distinct].copy(), kv_size[:distinct].copy()  # not views: m-sized bases freed



cdef inline uint64_t has_byte(uint64_t word, uint64_t byte) noexcept nogil:
    """Nonzero if one of the 8 bytes of `word` is `byte` (repeated in each byte); its lowest set bit is in the
    first such byte (higher ones may be false)."""
    cdef uint64_t x = word ^ byte
    return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL


cdef inline int64_t string_end(const uint8_t *buf, int64_t i, int64_t size) noexcept nogil:
    """Where the JSON string whose text starts at i (after its quote) ends: one past its closing quote,
    stepping over escapes; -1 if it runs past size. Eight bytes at a time while neither a quote nor a
    backslash is among them (strings are most of a span's bytes)."""
    cdef uint64_t word, found
    while i < size:
        if i + 8 <= size:
            memcpy(&word, buf + i, 8)
            found = has_byte(word, 0x2222222222222222ULL) | has_byte(word, 0x5C5C5C5C5C5C5C5CULL)
            if found == 0:
                i += 8
                continue
            i += __builtin_ctzll(found) >> 3
        if buf[i] == b'"':
            return i + 1
        i += 2 if buf[i] == b"\\" else 1
    return -1


cdef int64_t values(const uint8_t *buf, int64_t size) noexcept nogil:
    """How many JSON values, joined by commas, buf[:size] holds if it were valid JSON (its brackets balance
    and its strings close, outside of strings); -1 if it cannot be such values (a bracket closes what it
    did not open, or a string runs on). Lexed as JSON is: valid JSON is split alike by any reader."""
    cdef int64_t i = 0, depth = 0, n = 1
    cdef uint8_t c
    if size == 0:
        return 0
    while i < size:
        c = JSON_CLASS[buf[i]]
        i += 1
        if c == 0:
            continue
        if c == QUOTE:
            i = string_end(buf, i, size)
            if i < 0:
                return -1
        elif c == OPEN:
            depth += 1
        elif c == CLOSE:
            depth -= 1
            if depth < 0:
                return -1
        elif depth == 0:  # a comma
            n += 1
    return n if depth == 0 else -1


def join_lines(list lines, Py_ssize_t first, Py_ssize_t limit, list prefixes, list suffixes):
    """The spans of JSON lines that each read `prefixes[t]`, JSON values joined by commas, `suffixes[t]` (a
    line that repeats its resource and scope around its spans; `otlp_json` made the templates), from
    lines[first] for at most `limit` lines, up to the first line that matches no template or whose part
    between cannot be such values: (those parts as one JSON array, ``[`` + the non-empty ones joined by ``,``
    + ``]``; per line, how many values its part holds, where its part ends in the array, its template). Read
    as JSON, the array's values are the lines' values, in order, as many as said: whether it is valid JSON is
    for the caller."""
    cdef Py_ssize_t n_t = len(prefixes), i, t, last = 0, k, stop, size = 1, at, mid, n = 0
    cdef list heads = [bytes(p) for p in prefixes], tails = [bytes(s) for s in suffixes]
    cdef bytes line, head, tail
    cdef int64_t count
    stop = min(len(lines), first + limit)
    which = np.empty(max(stop - first, 0), dtype=np.int64)
    counts = np.empty(max(stop - first, 0), dtype=np.int64)
    cdef int64_t[::1] which_v = which, counts_v = counts
    for i in range(first, stop):  # which template each line reads, its values, and the array's size
        line = lines[i]
        for k in range(n_t):
            t = (last + k) % n_t  # the template of the line before first: lines of one process run on
            head, tail = heads[t], tails[t]
            if (len(line) >= len(head) + len(tail)
                    and memcmp(<const char *>line, <const char *>head, len(head)) == 0
                    and memcmp(<const char *>line + len(line) - len(tail), <const char *>tail, len(tail)) == 0):
                break
        else:
            break
        mid = len(line) - len(head) - len(tail)
        count = values(<const uint8_t *>(<const char *>line) + len(head), mid)
        if count < 0:
            break
        last = t
        which_v[n], counts_v[n] = t, count
        size += mid + (1 if mid and size > 1 else 0)
        n += 1
    out = PyBytes_FromStringAndSize(NULL, size + 1)
    cdef char *buf = PyBytes_AS_STRING(out)
    ends = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] ends_v = ends
    buf[0] = b"["
    at = 1
    for i in range(n):
        line = lines[first + i]
        head, tail = heads[which_v[i]], tails[which_v[i]]
        mid = len(line) - len(head) - len(tail)
        if mid:
            if at > 1:
                buf[at] = b","
                at += 1
            memcpy(buf + at, <const char *>line + len(head), mid)
            at += mid
        ends_v[i] = at
    buf[at] = b"]"
    return out, counts[:n], ends, which[:n]
