#include "vmm/devices/i8042.h"

#include <gtest/gtest.h>

#include "test_support.h"

using namespace rkt::vmm;

namespace {
uint8_t rd(I8042& d, uint64_t off) {
    uint8_t v = 0;
    d.read(off, {&v, 1});
    return v;
}
void wr(I8042& d, uint64_t off, uint8_t v) {
    d.write(off, {&v, 1});
}
}  // namespace

TEST(I8042, ResetCommandEndsTheVm) {
    test::CountingLine irq;
    int resets = 0;
    I8042 d(irq, [&] { ++resets; });
    // What Linux's reboot=k does: wait for the input buffer to be empty, then write 0xfe.
    EXPECT_EQ(rd(d, 4) & 0x02, 0);
    EXPECT_EQ(rd(d, 4) & 0x10, 0x10);  // keyboard not locked
    wr(d, 4, 0xfe);
    EXPECT_EQ(resets, 1);
}

TEST(I8042, SelfTestAndControlByte) {
    test::CountingLine irq;
    I8042 d(irq, nullptr);
    wr(d, 4, 0xaa);
    EXPECT_EQ(rd(d, 4) & 1, 1);  // output full
    EXPECT_EQ(rd(d, 0), 0x55);
    EXPECT_EQ(rd(d, 4) & 1, 0);
    wr(d, 4, 0x60);  // write control byte
    wr(d, 0, 0x00);  // keyboard interrupt off
    wr(d, 4, 0x20);  // read it back
    EXPECT_EQ(rd(d, 0), 0x00);
    int before = irq.count;
    wr(d, 4, 0xab);
    EXPECT_EQ(irq.count, before);  // interrupts off now
    EXPECT_EQ(rd(d, 0), 0x00);
}

TEST(I8042, KeyboardCommandsAreAcknowledged) {
    test::CountingLine irq;
    I8042 d(irq, nullptr);
    wr(d, 0, 0xff);  // keyboard reset
    EXPECT_EQ(rd(d, 0), 0xfa);
    EXPECT_EQ(rd(d, 0), 0xaa);
    EXPECT_GE(irq.count, 2);
}

TEST(I8042, OutputPortResetLine) {
    test::CountingLine irq;
    int resets = 0;
    I8042 d(irq, [&] { ++resets; });
    wr(d, 4, 0xd1);
    wr(d, 0, 0x01);
    EXPECT_EQ(resets, 0);
    wr(d, 4, 0xd1);
    wr(d, 0, 0x00);
    EXPECT_EQ(resets, 1);
}

TEST(I8042, UnknownCommandsAndPortsAreHarmless) {
    test::CountingLine irq;
    I8042 d(irq, nullptr);
    wr(d, 4, 0x42);
    wr(d, 2, 0x42);
    EXPECT_EQ(rd(d, 2), 0xff);
    EXPECT_EQ(rd(d, 0), 0x00);
    // A flood of commands does not grow the output buffer without bound.
    for (int i = 0; i < 1000; ++i) wr(d, 4, 0xaa);
    int n = 0;
    while (rd(d, 4) & 1) {
        rd(d, 0);
        ++n;
    }
    EXPECT_LE(n, 16);
}
