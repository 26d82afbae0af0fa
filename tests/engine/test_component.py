"""The message layer: links (latency, bandwidth, depth), back-pressure, causality, checkpoints."""
import pytest
from hypothesis import given, settings, strategies as st

from archsim.engine.component import Link, Machine, Message, Node
from archsim.errors import UserError


class Source(Node):
    """Sends `n` messages of `size` bytes as fast as the link lets it."""

    def __init__(self, m, name, n, size):
        super().__init__(m, name, None, {"left": n, "sent": [], "size": size})
        self.out = None

    def go(self):
        st = self.state
        while st["left"] > 0:
            msg = Message("data", st["size"], addr=st["left"] * 64, src=self.name,
                          tag=st["left"])
            if not self.out.send(msg):
                return                      # back-pressured: on_link_free resumes
            st["sent"].append((self.machine.now, msg.tag))
            st["left"] -= 1

    def on_link_free(self, link):
        self.go()


class Relay(Node):
    """Holds each message `hold` ticks before releasing it and forwarding it."""

    def __init__(self, m, name, hold):
        super().__init__(m, name, None, {"got": [], "hold": hold, "q": []})
        self.inp = None
        self.out = None

    def on_message(self, link, msg):
        self.state["got"].append((self.machine.now, msg.tag))
        self.machine.post(self.state["hold"], self.name, "done", msg)

    def done(self, msg):
        self.inp.release()
        if self.out is not None:
            self.state["q"].append(msg)
            self.drain()

    def drain(self):
        q = self.state["q"]
        while q and self.out.send(q[0]):
            q.pop(0)

    def on_link_free(self, link):
        self.drain()


def chain(n=20, size=256, depth=2, hold=50, latency=30, bw=8.0, backend=None):
    m = Machine(backend=backend)
    src = Source(m, "src", n, size)
    a = Relay(m, "a", hold)
    b = Relay(m, "b", hold * 2)
    src.out = a.inp = Link(m, "src->a", "src", "a", latency=latency, bandwidth=bw, depth=depth)
    a.out = b.inp = Link(m, "a->b", "a", "b", latency=latency, bandwidth=bw / 2, depth=depth)
    m.post(0, "src", "go")
    return m, src, a, b


def test_link_latency_and_bandwidth():
    m, src, a, b = chain(n=1, size=800, bw=8.0, latency=30)
    m.run()
    # 800 B at 8 B/tick = 100 ticks, then 30 ticks of flight
    assert a.state["got"] == [(130, 1)]
    # a holds 50, then 800 B at 4 B/tick = 200 ticks + 30 flight
    assert b.state["got"] == [(130 + 50 + 200 + 30, 1)]


def test_messages_serialise_on_a_link():
    m, src, a, b = chain(n=3, size=80, bw=8.0, latency=5, depth=100, hold=0)
    m.run()
    assert [t for t, _ in a.state["got"]] == [15, 25, 35]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), depth=st.integers(1, 4), hold=st.integers(0, 300),
       size=st.integers(1, 2000), latency=st.integers(0, 100))
def test_no_message_lost_or_early_under_full_buffers(n, depth, hold, size, latency):
    m, src, a, b = chain(n=n, size=size, depth=depth, hold=hold, latency=latency)
    m.run()
    tags = list(range(n, 0, -1))
    assert [t for _, t in src.state["sent"]] == tags          # all sent, in order
    assert [t for _, t in a.state["got"]] == tags             # all arrived, FIFO
    assert [t for _, t in b.state["got"]] == tags
    sent = dict((t, time) for time, t in src.state["sent"])
    got_a = dict((t, time) for time, t in a.state["got"])
    got_b = dict((t, time) for time, t in b.state["got"])
    for t in tags:   # no event before its cause: arrival after send + latency
        assert got_a[t] >= sent[t] + latency
        assert got_b[t] >= got_a[t] + hold + latency
    assert m.links["src->a"].state.occupancy == 0 and m.links["a->b"].state.occupancy == 0
    assert m.links["src->a"].state.bytes == n * size == m.links["a->b"].state.bytes


def test_python_and_cython_backends_agree():
    runs = []
    for backend in ("cython", "python"):
        m, src, a, b = chain(n=25, depth=2, hold=70, backend=backend)
        m.run()
        runs.append((src.state["sent"], a.state["got"], b.state["got"], m.now))
    assert runs[0] == runs[1]


@settings(max_examples=15, deadline=None)
@given(cut=st.integers(1, 120))
def test_checkpoint_resume_identity(cut):
    ref, *_ = chain(n=30, depth=2, hold=40)
    ref.run()
    full = ref.checkpoint()
    m, *_ = chain(n=30, depth=2, hold=40)
    m.run(max_events=cut)
    blob = m.checkpoint()
    m2 = Machine()
    src = Source(m2, "src", 0, 0)
    a, b = Relay(m2, "a", 0), Relay(m2, "b", 0)
    src.out = a.inp = Link(m2, "src->a", "src", "a", latency=30, bandwidth=8.0, depth=2)
    a.out = b.inp = Link(m2, "a->b", "a", "b", latency=30, bandwidth=4.0, depth=2)
    m2.restore(blob)
    m2.run()
    assert m2.nodes["b"].state == ref.nodes["b"].state
    assert m2.now == ref.now
    assert m2.events_processed == ref.events_processed
    import pickle
    assert pickle.loads(m2.checkpoint())["nodes"] == pickle.loads(full)["nodes"]


def test_bad_links_and_duplicates_are_user_errors():
    m = Machine()
    Node(m, "x")
    with pytest.raises(UserError):
        Node(m, "x")
    with pytest.raises(UserError):
        Link(m, "l", "x", "x", depth=0)
    with pytest.raises(UserError):
        Machine(backend="fortran")
