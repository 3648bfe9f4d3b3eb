// SPDX-License-Identifier: MIT
/*
 * The smallest useful VM: a few real-mode instructions that print a message
 * through an I/O port and halt.
 *
 * It shows the three bottom layers of libglue and nothing else:
 *   kvm    - /dev/kvm, a VM, a vCPU, and one step of the run loop
 *   memory - guest RAM, written through bounds-checked accessors
 *   bus    - the device manager: port I/O exits are dispatched to a device
 *
 * Build: part of the glue build (build/examples/minimal_vm); or, against an
 * installed libglue: cc minimal_vm.c $(pkg-config --cflags --libs libglue)
 */
#include <stdio.h>
#include <string.h>

#include <glue/bus.h>
#include <glue/error.h>
#include <glue/kvm.h>
#include <glue/memory.h>

#define CODE_ADDR 0x1000
#define DEBUG_PORT 0xE9 /* the "debug console" port many emulators use */

/*
 * Real-mode guest code (16-bit):
 *   mov si, msg ; cld
 * next: lodsb ; test al, al ; jz done ; out 0xE9, al ; jmp next
 * done: hlt
 * msg: "Hello from a glue VM!\n", 0
 */
static const uint8_t guest_code[] = {
	0xbe, 0x0e, 0x10,       /* mov si, 0x100e */
	0xfc,                   /* cld */
	0xac,                   /* next: lodsb */
	0x84, 0xc0,             /* test al, al */
	0x74, 0x04,             /* jz done */
	0xe6, DEBUG_PORT,       /* out 0xE9, al */
	0xeb, 0xf7,             /* jmp next */
	0xf4,                   /* done: hlt */
	'H', 'e', 'l', 'l', 'o', ' ', 'f', 'r', 'o', 'm', ' ', 'a', ' ', 'g', 'l', 'u', 'e',
	' ', 'V', 'M', '!', '\n', 0,
};

/* A device is an ops table plus its own state. This one collects bytes. */
struct debug_console {
	char text[128];
	size_t len;
};

static void console_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct debug_console *con = dev;

	/* data comes from the guest: copy at most what fits. */
	for (uint32_t i = 0; i < len && con->len < sizeof(con->text) - 1; i++)
		con->text[con->len++] = ((const char *)data)[i];
}

static void console_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	memset(data, 0, len);
}

static const struct glue_bus_ops console_ops = {
	.read = console_read,
	.write = console_write,
};

int main(void)
{
	struct glue_kvm *kvm = NULL;
	struct glue_vm *vm = NULL;
	struct glue_mem *mem = NULL;
	struct glue_vcpu *vcpu = NULL;
	struct glue_bus *pio = NULL;
	struct debug_console con = {0};
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rip = CODE_ADDR, .rflags = 0x2};
	int r, status = 1;

	/* 1. KVM and a VM. No in-kernel irqchip: HLT then exits to us. */
	if (glue_kvm_open(&kvm, NULL) < 0 || glue_vm_new(&vm, kvm) < 0)
		goto fail;

	/* 2. 64 KiB of guest RAM at address 0, with our code in it. */
	if (glue_mem_new(&mem) < 0 || glue_mem_add(mem, 0, 0x10000, GLUE_MEM_RAM) < 0 ||
	    glue_vm_set_memory(vm, mem) < 0 ||
	    glue_mem_write(mem, CODE_ADDR, guest_code, sizeof(guest_code)) < 0)
		goto fail;

	/* 3. A port I/O bus with our device on port 0xE9. */
	if (glue_bus_new(&pio, "pio") < 0 ||
	    glue_bus_register(pio, DEBUG_PORT, 1, &console_ops, &con, "debug-console") < 0)
		goto fail;

	/* 4. One vCPU, in real mode at 0000:1000. */
	if (glue_vcpu_new(&vcpu, vm, 0) < 0 || glue_vcpu_get_sregs(vcpu, &sregs) < 0)
		goto fail;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds = sregs.cs;
	sregs.ds.type = 3; /* data, read/write */
	if (glue_vcpu_set_sregs(vcpu, &sregs) < 0 || glue_vcpu_set_regs(vcpu, &regs) < 0)
		goto fail;
	glue_vcpu_set_buses(vcpu, pio, NULL);

	/* 5. Run: each step enters the guest and handles one exit. Port
	 *    writes reach console_write(); HLT ends the loop. */
	while ((r = glue_vcpu_run(vcpu, mem, NULL)) == GLUE_VCPU_CONTINUE)
		;
	if (r != GLUE_VCPU_HALT) {
		fprintf(stderr, "minimal_vm: unexpected end of run (%d): %s\n", r,
			glue_error_last());
		goto out;
	}
	printf("guest said: %s", con.text);
	status = strcmp(con.text, "Hello from a glue VM!\n") == 0 ? 0 : 1;
	goto out;
fail:
	fprintf(stderr, "minimal_vm: %s\n", glue_error_last());
out:
	glue_vcpu_free(vcpu);
	glue_bus_free(pio);
	glue_vm_free(vm);
	glue_mem_free(mem);
	glue_kvm_free(kvm);
	return status;
}
