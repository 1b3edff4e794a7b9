/* segue's JACK process callback: the only code of segue that runs in JACK's realtime cycle.
 *
 * One JACK client carries both of segue's ports (daemon/jack_client.py opens it through libjack with ctypes and
 * hands this callback the few libjack calls it needs, so no JACK header is needed to build it). Python never runs
 * in the cycle: the cycle and segue's threads meet in two lock-free single-producer single-consumer rings.
 *   - input: every event of the `in` port, with its absolute frame, for segue's input thread to read;
 *   - output: every message segue sent, stamped with the frame it is meant for (the send call's, or a later one:
 *     the scheduler hands a message over a moment before it is due); the cycle that covers that frame places it
 *     there plus one period, so each message is late by exactly one period instead of "by up to a period" (JACK
 *     places a message only inside the cycle that writes it). A message the port's buffer has no room for waits
 *     for the next cycle instead of being dropped.
 * An input event the ring has no room for (a flood faster than segue reads) is dropped and counted; the next event
 * that fits is preceded by a gap record saying how many went, so the input can tell a sysex cut short by segue's
 * ring from one a sender never finished. A release (note-off, sustain pedal up, all notes/sound off) is never the
 * event dropped: a lost note-off is a key segue hears held (and a note its thru holds) for good. The ring keeps at
 * most BACKLOG_AT_MOST bytes waiting (a flood's backlog stays short, so the player's notes after the flood get in
 * at once), the last RELEASE_RESERVE bytes of that for releases only; a release past it is held aside, the latest
 * per key, pedal and channel (a flood of releases costs segue one message per key), and written first when room
 * comes back, while what came meanwhile is dropped so nothing overtakes it. Only the reader of a single-producer
 * single-consumer ring frees room, so the cycle drops the newest; segue's inbox then drops the oldest
 * (daemon/inbox.py).
 * JACK's shutdown notification sets a flag: the server left segue's client (it stopped, or dropped the client),
 * whatever the files in /dev/shm say.
 */
#include <Python.h>            /* only for the empty module at the end; first, as Python asks */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint32_t frames_t;

typedef struct {                  /* jack_midi_event_t */
    frames_t time;
    size_t size;
    unsigned char *buffer;
} midi_event;

typedef struct {                  /* the libjack calls the cycle makes, filled in by Python */
    void *(*port_get_buffer)(void *port, frames_t nframes);
    uint32_t (*midi_get_event_count)(void *buffer);
    int (*midi_event_get)(midi_event *event, void *buffer, uint32_t index);
    void (*midi_clear_buffer)(void *buffer);
    unsigned char *(*midi_event_reserve)(void *buffer, frames_t time, size_t size);
    frames_t (*last_frame_time)(void *client);
    frames_t (*frame_time)(void *client);
} jack_calls;

enum { IN_BYTES = 1 << 18, OUT_BYTES = 1 << 16, HEADER = 8 };   /* a record: frame, size (uint32 each), bytes */
/* Room only releases may take: about 1,500 of them (11 bytes each), more than 16 channels of keys can owe. */
enum { RELEASE_RESERVE = 1 << 14 };
/* Input waiting in the ring at most (about 12,000 notes, what segue's input thread reads in a second or so): the
 * inbox behind it holds a second of a flood already. An event larger than that gets in only into an empty ring. */
enum { BACKLOG_AT_MOST = 1 << 17 };
enum { CHANNELS = 16, KEYS = 128, SUSTAIN = 64, PEDAL_DOWN = 64, ALL_SOUND_OFF = 120, ALL_NOTES_OFF = 123 };
/* A message stamped further ahead than this is taken for a clock that jumped, and played at once (1.4 s at 48 kHz;
 * the scheduler hands messages over about a millisecond ahead). */
enum { AHEAD_AT_MOST = 1 << 16 };

typedef struct {
    unsigned char *bytes;
    size_t capacity;              /* a power of two */
    _Atomic size_t head, tail;    /* written by the producer, by the consumer; free-running */
} ring;

typedef struct {                  /* releases the input ring had no room for: the latest of each, 0 = none */
    uint8_t note_off[CHANNELS][KEYS];     /* release velocity + 1 */
    uint8_t pedal_up[CHANNELS];           /* the pedal's value + 1 */
    uint8_t all_off[CHANNELS];            /* bit 0: all sound off, bit 1: all notes off */
    uint32_t count;                       /* how many of the above are set */
} held_releases;

typedef struct {
    jack_calls jack;
    void *client;
    _Atomic(void *) in_port, out_port;
    ring in, out;
    _Atomic uint64_t cycles;
    _Atomic uint64_t in_dropped;      /* input events the ring had no room for, in all */
    uint32_t gap;                     /* ... since the last gap record (the cycle's own: only it writes the ring) */
    held_releases held;               /* the cycle's own too */
    _Atomic int server_gone;          /* JACK's shutdown notification came */
    unsigned char in_bytes[IN_BYTES], out_bytes[OUT_BYTES];
} segue_jack;

static void ring_copy_in(ring *r, size_t at, const void *from, size_t n) {
    size_t start = at & (r->capacity - 1), first = r->capacity - start < n ? r->capacity - start : n;
    memcpy(r->bytes + start, from, first);
    memcpy(r->bytes, (const unsigned char *)from + first, n - first);
}

static void ring_copy_out(const ring *r, size_t at, void *to, size_t n) {
    size_t start = at & (r->capacity - 1), first = r->capacity - start < n ? r->capacity - start : n;
    memcpy(to, r->bytes + start, first);
    memcpy((unsigned char *)to + first, r->bytes, n - first);
}

static size_t ring_room(ring *r) {
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    return r->capacity - (head - atomic_load_explicit(&r->tail, memory_order_acquire));
}

/* Producer: one record, or 0 when there is no room (nothing written). */
static int ring_put(ring *r, uint32_t frame, const unsigned char *data, uint32_t size) {
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (ring_room(r) < HEADER + (size_t)size) return 0;
    uint32_t header[2] = {frame, size};
    ring_copy_in(r, head, header, HEADER);
    if (size != 0) ring_copy_in(r, head + HEADER, data, size);
    atomic_store_explicit(&r->head, head + HEADER + size, memory_order_release);
    return 1;
}

/* Consumer: the next record's frame and size, or 0 when the ring is empty. */
static int ring_peek(ring *r, uint32_t *frame, uint32_t *size) {
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (head == tail) return 0;
    uint32_t header[2];
    ring_copy_out(r, tail, header, HEADER);
    *frame = header[0];
    *size = header[1];
    return 1;
}

static void ring_take(ring *r, void *to, uint32_t size) {
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (to != NULL) ring_copy_out(r, tail + HEADER, to, size);
    atomic_store_explicit(&r->tail, tail + HEADER + size, memory_order_release);
}

segue_jack *sj_new(const jack_calls *calls, void *client) {
    segue_jack *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->jack = *calls;
    s->client = client;
    s->in.bytes = s->in_bytes;                              /* heads and tails start at 0 (calloc) */
    s->in.capacity = IN_BYTES;
    s->out.bytes = s->out_bytes;
    s->out.capacity = OUT_BYTES;
    return s;
}

void sj_free(segue_jack *s) { free(s); }

/* NULL takes a port out of the cycle: Python unregisters it only after sj_cycles has moved on twice. */
void sj_set_ports(segue_jack *s, void *in_port, void *out_port) {
    atomic_store(&s->in_port, in_port);
    atomic_store(&s->out_port, out_port);
}

uint64_t sj_cycles(segue_jack *s) { return atomic_load(&s->cycles); }

/* What a release lets go of, as held_releases keeps it: 1 a note, 2 the pedal, 3 all sound off, 4 all notes off;
 * 0: not a release. */
static int release_kind(const unsigned char *data, size_t size) {
    if (size != 3 || data[1] >= 0x80 || data[2] >= 0x80) return 0;
    switch (data[0] & 0xF0) {
    case 0x80: return 1;
    case 0x90: return data[2] == 0 ? 1 : 0;
    case 0xB0:
        if (data[1] == SUSTAIN) return data[2] < PEDAL_DOWN ? 2 : 0;
        if (data[1] == ALL_SOUND_OFF) return 3;
        if (data[1] == ALL_NOTES_OFF) return 4;
        return 0;
    default: return 0;
    }
}

static void count_drop(segue_jack *s) {
    s->gap++;
    atomic_fetch_add_explicit(&s->in_dropped, 1, memory_order_relaxed);
}

/* One record, after the gap record owed since the last drop, if both fit under `cap` bytes waiting (or the ring is
 * empty and they fit at all). */
static int put_input(segue_jack *s, uint32_t frame, const unsigned char *data, uint32_t size, size_t cap) {
    size_t need = HEADER + (size_t)size + (s->gap != 0 ? HEADER : 0);
    size_t waiting = s->in.capacity - ring_room(&s->in);
    if (waiting + need > cap && (waiting != 0 || need > s->in.capacity)) return 0;
    if (s->gap != 0) ring_put(&s->in, s->gap, NULL, 0);
    s->gap = 0;
    return ring_put(&s->in, frame, data, size);
}

/* Keep a release in `h`, the latest per key, pedal and channel; 1 when it superseded one kept before (a drop). */
static int hold_release(held_releases *h, const unsigned char *data, int kind) {
    unsigned channel = data[0] & 0x0F;
    if (kind == 3 || kind == 4) {
        uint8_t bit = kind == 3 ? 1 : 2;
        int again = (h->all_off[channel] & bit) != 0;       /* the same again: one is enough */
        if (h->all_off[channel] == 0) h->count++;
        h->all_off[channel] |= bit;
        return again;
    }
    uint8_t *slot = kind == 1 ? &h->note_off[channel][data[1]] : &h->pedal_up[channel];
    int again = *slot != 0;
    if (!again) h->count++;
    /* kept as its value + 1; a note-on of velocity 0 comes back as a note-off of velocity 0 */
    *slot = (uint8_t)((kind == 1 && (data[0] & 0xF0) == 0x90 ? 0 : data[2]) + 1);
    return again;
}

/* Releases held aside go first, at the cycle's start, as room allows; 1 when none is left. */
static int put_held(segue_jack *s, frames_t start) {
    held_releases *h = &s->held;
    for (unsigned ch = 0; ch < CHANNELS && h->count != 0; ch++) {
        for (int bit = 0; bit < 2; bit++) {
            if (!(h->all_off[ch] & (1 << bit))) continue;
            unsigned char m[3] = {(unsigned char)(0xB0 | ch), bit == 0 ? ALL_SOUND_OFF : ALL_NOTES_OFF, 0};
            if (!put_input(s, start, m, 3, BACKLOG_AT_MOST)) return 0;
            h->all_off[ch] &= (uint8_t)~(1 << bit);
            if (h->all_off[ch] == 0) h->count--;
        }
        if (h->pedal_up[ch] != 0) {
            unsigned char m[3] = {(unsigned char)(0xB0 | ch), SUSTAIN, (unsigned char)(h->pedal_up[ch] - 1)};
            if (!put_input(s, start, m, 3, BACKLOG_AT_MOST)) return 0;
            h->pedal_up[ch] = 0;
            h->count--;
        }
        for (unsigned key = 0; key < KEYS && h->count != 0; key++) {
            if (h->note_off[ch][key] == 0) continue;
            unsigned char m[3] = {(unsigned char)(0x80 | ch), (unsigned char)key,
                                  (unsigned char)(h->note_off[ch][key] - 1)};
            if (!put_input(s, start, m, 3, BACKLOG_AT_MOST)) return 0;
            h->note_off[ch][key] = 0;
            h->count--;
        }
    }
    return h->count == 0;
}

static void read_input(segue_jack *s, void *port, frames_t nframes, frames_t start) {
    void *buffer = s->jack.port_get_buffer(port, nframes);
    uint32_t count = s->jack.midi_get_event_count(buffer);
    int nothing_held = s->held.count == 0 || put_held(s, start);
    for (uint32_t i = 0; i < count; i++) {
        midi_event event;
        if (s->jack.midi_event_get(&event, buffer, i) != 0 || event.size == 0) continue;
        int kind = release_kind(event.buffer, event.size);
        /* While releases wait, nothing is written: what came after them must not overtake them. */
        if (nothing_held && put_input(s, start + event.time, event.buffer, (uint32_t)event.size,
                                      kind != 0 ? BACKLOG_AT_MOST : BACKLOG_AT_MOST - RELEASE_RESERVE))
            continue;
        if (kind != 0) {
            if (hold_release(&s->held, event.buffer, kind)) count_drop(s);
            nothing_held = 0;
        } else {
            count_drop(s);
        }
    }
}

static void write_output(segue_jack *s, void *port, frames_t nframes, frames_t start) {
    void *buffer = s->jack.port_get_buffer(port, nframes);
    s->jack.midi_clear_buffer(buffer);
    int64_t earliest = 0;                                   /* JACK wants a cycle's events in time order */
    uint32_t frame, size;
    while (ring_peek(&s->out, &frame, &size)) {
        /* meant for `frame`: played one period later, i.e. at `frame + nframes` of this cycle's frames */
        int64_t offset = (int32_t)(frame + nframes - start);
        if (offset >= (int64_t)nframes) {
            if (offset < (int64_t)nframes + AHEAD_AT_MOST) break;   /* a later cycle's: it waits (and all after it) */
            offset = nframes - 1;                           /* a clock that jumped: play it now */
        }
        if (offset < earliest) offset = earliest;           /* late (a cycle skipped), or behind one placed before */
        unsigned char *room = s->jack.midi_event_reserve(buffer, (frames_t)offset, size);
        if (room == NULL) break;                            /* the port's buffer is full: the next cycle sends it */
        ring_take(&s->out, room, size);
        earliest = offset;
    }
}

int sj_process(frames_t nframes, void *arg) {
    segue_jack *s = arg;
    frames_t start = s->jack.last_frame_time(s->client);
    void *in_port = atomic_load(&s->in_port), *out_port = atomic_load(&s->out_port);
    if (in_port != NULL) read_input(s, in_port, nframes, start);
    if (out_port != NULL) write_output(s, out_port, nframes, start);
    atomic_fetch_add(&s->cycles, 1);
    return 0;
}

/* segue's input thread: the next event's bytes into `to` (its size returned, its absolute frame in *frame);
 * 0: none; -1: larger than `capacity` (it is skipped, *frame and the size in *size say what was lost);
 * -2: the ring overflowed here, *frame events were dropped before the next one. */
int32_t sj_read(segue_jack *s, unsigned char *to, uint32_t capacity, uint32_t *frame, uint32_t *size) {
    if (!ring_peek(&s->in, frame, size)) return 0;
    if (*size == 0) {
        ring_take(&s->in, NULL, 0);
        return -2;
    }
    if (*size > capacity) {
        ring_take(&s->in, NULL, *size);
        return -1;
    }
    ring_take(&s->in, to, *size);
    return (int32_t)*size;
}

uint64_t sj_in_dropped(segue_jack *s) { return atomic_load(&s->in_dropped); }

/* jack_on_info_shutdown's callback (JACK's thread, or the thread that noticed the server gone): a flag, nothing else. */
void sj_on_shutdown(int code, const char *reason, void *arg) {
    (void)code;
    (void)reason;
    atomic_store(&((segue_jack *)arg)->server_gone, 1);
}

int sj_server_gone(segue_jack *s) { return atomic_load(&s->server_gone); }

/* A send meant for `ahead` frames from now (one writer at a time: the output's lock): 1, or 0 when the ring is
 * full (nothing queued). */
int sj_write(segue_jack *s, const unsigned char *data, uint32_t size, int32_t ahead) {
    return ring_put(&s->out, s->jack.frame_time(s->client) + (uint32_t)ahead, data, size);
}

/* An importable module too, with nothing in it: daemon/jack_client.py loads this library with ctypes, and whoever
 * walks the daemon package and imports each module (the house rules' test) gets an empty module, not an error. */
static struct PyModuleDef empty_module = {PyModuleDef_HEAD_INIT, "_jack_process",
                                          "segue's JACK process cycle, loaded with ctypes by daemon/jack_client.py",
                                          -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__jack_process(void) { return PyModule_Create(&empty_module); }
