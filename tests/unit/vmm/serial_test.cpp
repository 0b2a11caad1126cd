#include "vmm/devices/serial.h"

#include <gtest/gtest.h>

#include <string>

#include "test_support.h"

using namespace rkt::vmm;

using rkt::vmm::test::Pipe;
using rkt::vmm::test::read_byte;
using rkt::vmm::test::write_byte;

TEST(Serial, TransmitsToTheOutputFd) {
    test::CountingLine irq;
    Pipe p;
    {
        Serial s(irq, p.write_end.get());
        for (char c : std::string("hello\nrest")) write_byte(s, 0, static_cast<uint8_t>(c));
        EXPECT_EQ(p.drain(), "hello\n");  // flushed at the newline
        s.flush();
        EXPECT_EQ(p.drain(), "rest");
    }
    EXPECT_EQ(irq.count, 0);  // no interrupts were enabled
}

TEST(Serial, LineStatusAndScratch) {
    test::CountingLine irq;
    Serial s(irq, -1);
    EXPECT_EQ(read_byte(s, 5) & 0x60, 0x60);  // transmitter empty and idle
    EXPECT_EQ(read_byte(s, 5) & 0x01, 0);     // no data
    write_byte(s, 7, 0xa5);
    EXPECT_EQ(read_byte(s, 7), 0xa5);
    write_byte(s, 1, 0x0f);
    EXPECT_EQ(read_byte(s, 1), 0x0f);  // Linux's probe checks IER reads back
}

TEST(Serial, DivisorLatch) {
    test::CountingLine irq;
    Serial s(irq, -1);
    write_byte(s, 3, 0x80);  // DLAB
    write_byte(s, 0, 0x01);
    write_byte(s, 1, 0x00);
    EXPECT_EQ(read_byte(s, 0), 0x01);
    write_byte(s, 3, 0x03);
    EXPECT_EQ(read_byte(s, 3), 0x03);
}

TEST(Serial, TransmitEmptyInterrupt) {
    test::CountingLine irq;
    Serial s(irq, -1);
    write_byte(s, 1, 0x02);  // enable THR-empty interrupts: one fires at once
    EXPECT_EQ(irq.count, 1);
    EXPECT_EQ(read_byte(s, 2) & 0x0f, 0x02);
    EXPECT_EQ(read_byte(s, 2) & 0x0f, 0x01);  // acknowledged by the read
    write_byte(s, 0, 'x');
    EXPECT_EQ(irq.count, 2);
}

TEST(Serial, ReceivesInput) {
    test::CountingLine irq;
    Serial s(irq, -1);
    write_byte(s, 1, 0x01);  // receive interrupts
    uint8_t in[] = {'a', 'b'};
    EXPECT_EQ(s.enqueue_input(in), 2u);
    EXPECT_EQ(irq.count, 1);
    EXPECT_EQ(read_byte(s, 2) & 0x0f, 0x04);
    EXPECT_EQ(read_byte(s, 5) & 1, 1);
    EXPECT_EQ(read_byte(s, 0), 'a');
    EXPECT_EQ(read_byte(s, 0), 'b');
    EXPECT_EQ(read_byte(s, 5) & 1, 0);
}

TEST(Serial, Loopback) {
    test::CountingLine irq;
    Pipe p;
    Serial s(irq, p.write_end.get());
    write_byte(s, 4, 0x10 | 0x0b);  // loopback, DTR, RTS, OUT2
    write_byte(s, 0, 0x55);
    EXPECT_EQ(read_byte(s, 0), 0x55);
    EXPECT_EQ(read_byte(s, 6) & 0xf0, 0xb0);  // DCD, DSR, CTS mirrored
    s.flush();
    EXPECT_EQ(p.drain(), "");
}
