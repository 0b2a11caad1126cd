#include "vmm/devices/i8042.h"

#include <gtest/gtest.h>

#include "test_support.h"

using namespace rkt::vmm;
using rkt::vmm::test::read_byte;
using rkt::vmm::test::write_byte;

TEST(I8042, ResetCommandEndsTheVm) {
    test::CountingLine irq;
    int resets = 0;
    I8042 d(irq, [&] { ++resets; });
    // What Linux's reboot=k does: wait for the input buffer to be empty, then write 0xfe.
    EXPECT_EQ(read_byte(d, 4) & 0x02, 0);
    EXPECT_EQ(read_byte(d, 4) & 0x10, 0x10);  // keyboard not locked
    write_byte(d, 4, 0xfe);
    EXPECT_EQ(resets, 1);
}

TEST(I8042, SelfTestAndControlByte) {
    test::CountingLine irq;
    I8042 d(irq, nullptr);
    write_byte(d, 4, 0xaa);
    EXPECT_EQ(read_byte(d, 4) & 1, 1);  // output full
    EXPECT_EQ(read_byte(d, 0), 0x55);
    EXPECT_EQ(read_byte(d, 4) & 1, 0);
    write_byte(d, 4, 0x60);  // write control byte
    write_byte(d, 0, 0x00);  // keyboard interrupt off
    write_byte(d, 4, 0x20);  // read it back
    EXPECT_EQ(read_byte(d, 0), 0x00);
    int before = irq.count;
    write_byte(d, 4, 0xab);
    EXPECT_EQ(irq.count, before);  // interrupts off now
    EXPECT_EQ(read_byte(d, 0), 0x00);
}

TEST(I8042, KeyboardCommandsAreAcknowledged) {
    test::CountingLine irq;
    I8042 d(irq, nullptr);
    write_byte(d, 0, 0xff);  // keyboard reset
    EXPECT_EQ(read_byte(d, 0), 0xfa);
    EXPECT_EQ(read_byte(d, 0), 0xaa);
    EXPECT_GE(irq.count, 2);
}

TEST(I8042, OutputPortResetLine) {
    test::CountingLine irq;
    int resets = 0;
    I8042 d(irq, [&] { ++resets; });
    write_byte(d, 4, 0xd1);
    write_byte(d, 0, 0x01);
    EXPECT_EQ(resets, 0);
    write_byte(d, 4, 0xd1);
    write_byte(d, 0, 0x00);
    EXPECT_EQ(resets, 1);
}

TEST(I8042, UnknownCommandsAndPortsAreHarmless) {
    test::CountingLine irq;
    I8042 d(irq, nullptr);
    write_byte(d, 4, 0x42);
    write_byte(d, 2, 0x42);
    EXPECT_EQ(read_byte(d, 2), 0xff);
    EXPECT_EQ(read_byte(d, 0), 0x00);
    // A flood of commands does not grow the output buffer without bound.
    for (int i = 0; i < 1000; ++i) write_byte(d, 4, 0xaa);
    int n = 0;
    while (read_byte(d, 4) & 1) {
        read_byte(d, 0);
        ++n;
    }
    EXPECT_LE(n, 16);
}
