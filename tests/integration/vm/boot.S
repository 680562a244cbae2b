# A 512-byte BIOS boot sector for the VM tests: it talks to the test over COM1 and to its disk
# through int 13h (EDD, LBA addressing).
#
#   1. prints "LUNFS-BOOT\n";
#   2. reads LBA 8, which the test wrote beforehand: 48 bytes of text (NUL-padded), then at
#      offset 48 a mode byte; prints "READ <text>\n";
#   3. writes LBA 16: "GUEST " followed by those 48 bytes; prints "WROTE\n";
#   4. mode 'H': prints "DONE\n" and halts;
#      mode 'L': loops for ever: iteration i writes LBA 64 + (i mod 64) filled with the 32-bit
#      value i (its first 4 bytes "LOOP" instead), reads it back and compares; every 16
#      iterations prints "P" and i as 8 hex digits and a newline.
# A failed int 13h call prints "DISKERR xx\n" (xx: the BIOS status) and halts; a read-back
# that differs prints "MISMATCH\n" and halts.
#
# Build: as --32 -o boot.o boot.S && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o boot.bin boot.o

        .code16
        .text
        .globl _start

        .set COM1, 0x3f8
        .set HOST_LBA, 8
        .set GUEST_LBA, 16
        .set LOOP_LBA, 64
        .set RBUF, 0x8000        # sector read from the disk
        .set WBUF, 0x8200        # sector to write
        .set DAP, 0x7e00         # disk address packet

_start:
        cli
        cld
        xorw %ax, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movw $0x7c00, %sp
        sti
        ljmp $0, $start2         # CS:IP = 0:0x7c.. whatever the BIOS used
start2:
        movb %dl, drive

        movw $msg_boot, %si
        call puts

        # Read the sector the test wrote.
        movl $HOST_LBA, %eax
        movw $RBUF, %bx
        call disk_read
        movw $msg_read, %si
        call puts
        movw $RBUF, %si
        call puts
        movb $'\n', %al
        call putc

        # Write "GUEST " and the text read back to LBA 16, zeros after them.
        movw $WBUF, %di
        xorw %ax, %ax
        movw $256, %cx
        rep stosw
        movw $WBUF, %di
        movw $msg_guest, %si
        movw $6, %cx
        rep movsb
        movw $RBUF, %si
        movw $48, %cx
        rep movsb
        movw $WBUF, %bx
        movl $GUEST_LBA, %eax
        call disk_write
        movw $msg_wrote, %si
        call puts

        cmpb $'L', RBUF + 48
        je loop_mode
        movw $msg_done, %si
        call puts
halt:
        cli
        hlt
        jmp halt

# Mode 'L': write, read back, compare, for ever. %ebp counts iterations.
loop_mode:
        xorl %ebp, %ebp
next:
        movw $WBUF, %di
        movl %ebp, %eax
        movw $128, %cx
        rep stosl
        movl $0x504f4f4c, WBUF   # "LOOP"
        movl %ebp, %eax
        andl $63, %eax
        addl $LOOP_LBA, %eax
        movw $WBUF, %bx
        pushl %eax
        call disk_write
        popl %eax
        movw $RBUF, %bx
        call disk_read
        movw $RBUF, %si
        movw $WBUF, %di
        movw $256, %cx
        repe cmpsw
        jne mismatch
        incl %ebp
        testl $15, %ebp
        jnz next
        movb $'P', %al
        call putc
        movl %ebp, %eax
        call puthex32
        movb $'\n', %al
        call putc
        jmp next
mismatch:
        movw $msg_mismatch, %si
        call puts
        jmp halt

# disk_read / disk_write: one sector at LBA %eax to or from %es:%bx. Halt on error.
disk_read:
        movb $0x42, %dh
        jmp disk_rw
disk_write:
        movb $0x43, %dh
disk_rw:
        movw $DAP, %si
        movw $0x0010, (%si)      # packet size 16, reserved 0
        movw $1, 2(%si)          # one sector
        movw %bx, 4(%si)         # buffer offset
        movw $0, 6(%si)          # buffer segment
        movl %eax, 8(%si)        # LBA low
        movl $0, 12(%si)         # LBA high
        movb %dh, %ah
        xorb %al, %al            # AH=43h: AL=0, write without verify
        movb drive, %dl
        int $0x13
        jc disk_error
        ret
disk_error:
        movb %ah, %bl
        movw $msg_diskerr, %si
        call puts
        movb %bl, %al
        call puthex8
        movb $'\n', %al
        call putc
        jmp halt

# putc: %al to COM1, once the transmitter holds no byte.
putc:
        pushw %dx
        pushw %ax
        movw $COM1 + 5, %dx
1:      inb %dx, %al
        testb $0x20, %al
        jz 1b
        popw %ax
        movw $COM1, %dx
        outb %al, %dx
        popw %dx
        ret

# puts: the NUL-terminated string at %ds:%si.
puts:
        lodsb
        testb %al, %al
        jz 1f
        call putc
        jmp puts
1:      ret

# puthex32: %eax as 8 hex digits. puthex8: %al as 2.
puthex32:
        movw $8, %cx
        jmp puthex
puthex8:
        shll $24, %eax
        movw $2, %cx
puthex:
        roll $4, %eax
        pushl %eax
        andb $15, %al
        addb $'0', %al
        cmpb $'9', %al
        jbe 1f
        addb $'a' - '9' - 1, %al
1:      call putc
        popl %eax
        loop puthex
        ret

msg_boot:     .asciz "LUNFS-BOOT\n"
msg_read:     .asciz "READ "
msg_guest:    .ascii "GUEST "
msg_wrote:    .asciz "WROTE\n"
msg_done:     .asciz "DONE\n"
msg_mismatch: .asciz "MISMATCH\n"
msg_diskerr:  .asciz "DISKERR "
drive:        .byte 0

        .org 510
        .word 0xaa55
