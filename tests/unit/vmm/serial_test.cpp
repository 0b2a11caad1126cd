#include "vmm/devices/serial.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "common/unique_fd.h"
#include "test_support.h"

using namespace rkt::vmm;

namespace {

using test::Pipe;

uint8_t rd(Serial& s, uint64_t off) {
    uint8_t v = 0;
    s.read(off, {&v, 1});
    return v;
}
void wr(Serial& s, uint64_t off, uint8_t v) {
    s.write(off, {&v, 1});
}

}  // namespace

TEST(Serial, TransmitsToTheOutputFd) {
    test::CountingLine irq;
    Pipe p;
    {
        Serial s(irq, p.write_end.get());
        for (char c : std::string("hello\nrest")) wr(s, 0, static_cast<uint8_t>(c));
        EXPECT_EQ(p.drain(), "hello\n");  // flushed at the newline
        s.flush();
        EXPECT_EQ(p.drain(), "rest");
    }
    EXPECT_EQ(irq.count, 0);  // no interrupts were enabled
}

TEST(Serial, LineStatusAndScratch) {
    test::CountingLine irq;
    Serial s(irq, -1);
    EXPECT_EQ(rd(s, 5) & 0x60, 0x60);  // transmitter empty and idle
    EXPECT_EQ(rd(s, 5) & 0x01, 0);     // no data
    wr(s, 7, 0xa5);
    EXPECT_EQ(rd(s, 7), 0xa5);
    wr(s, 1, 0x0f);
    EXPECT_EQ(rd(s, 1), 0x0f);  // Linux's probe checks IER reads back
}

TEST(Serial, DivisorLatch) {
    test::CountingLine irq;
    Serial s(irq, -1);
    wr(s, 3, 0x80);  // DLAB
    wr(s, 0, 0x01);
    wr(s, 1, 0x00);
    EXPECT_EQ(rd(s, 0), 0x01);
    wr(s, 3, 0x03);
    EXPECT_EQ(rd(s, 3), 0x03);
}

TEST(Serial, TransmitEmptyInterrupt) {
    test::CountingLine irq;
    Serial s(irq, -1);
    wr(s, 1, 0x02);  // enable THR-empty interrupts: one fires at once
    EXPECT_EQ(irq.count, 1);
    EXPECT_EQ(rd(s, 2) & 0x0f, 0x02);
    EXPECT_EQ(rd(s, 2) & 0x0f, 0x01);  // acknowledged by the read
    wr(s, 0, 'x');
    EXPECT_EQ(irq.count, 2);
}

TEST(Serial, ReceivesInput) {
    test::CountingLine irq;
    Serial s(irq, -1);
    wr(s, 1, 0x01);  // receive interrupts
    uint8_t in[] = {'a', 'b'};
    EXPECT_EQ(s.enqueue_input(in), 2u);
    EXPECT_EQ(irq.count, 1);
    EXPECT_EQ(rd(s, 2) & 0x0f, 0x04);
    EXPECT_EQ(rd(s, 5) & 1, 1);
    EXPECT_EQ(rd(s, 0), 'a');
    EXPECT_EQ(rd(s, 0), 'b');
    EXPECT_EQ(rd(s, 5) & 1, 0);
}

TEST(Serial, Loopback) {
    test::CountingLine irq;
    Pipe p;
    Serial s(irq, p.write_end.get());
    wr(s, 4, 0x10 | 0x0b);  // loopback, DTR, RTS, OUT2
    wr(s, 0, 0x55);
    EXPECT_EQ(rd(s, 0), 0x55);
    EXPECT_EQ(rd(s, 6) & 0xf0, 0xb0);  // DCD, DSR, CTS mirrored
    s.flush();
    EXPECT_EQ(p.drain(), "");
}
