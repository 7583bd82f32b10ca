#include "textflag.h"

// The Go assembler lacks some NEON instructions used here (FADD, FADDP and
// UMULL, UMULL2, UADALP on vectors); they are written as WORD with their
// encodings from the Arm ARM, the instruction in the comment. All are
// baseline ARMv8.0 Advanced SIMD, which every arm64 CPU Go runs on has:
// UDOT would be faster but is optional (ARMv8.2; the Raspberry Pi 4's
// Cortex-A72 lacks it).

// func dotAsm(a, b []float32) float32
TEXT ·dotAsm(SB), NOSPLIT, $0-52
	MOVD a_base+0(FP), R0
	MOVD a_len+8(FP), R2
	MOVD b_base+24(FP), R1
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16

loop16:
	CMP    $16, R2
	BLT    loop4
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	VFMLA  V4.S4, V8.S4, V0.S4
	VFMLA  V5.S4, V9.S4, V1.S4
	VFMLA  V6.S4, V10.S4, V2.S4
	VFMLA  V7.S4, V11.S4, V3.S4
	SUB    $16, R2
	B      loop16

loop4:
	CMP    $4, R2
	BLT    reduce
	VLD1.P 16(R0), [V4.S4]
	VLD1.P 16(R1), [V8.S4]
	VFMLA  V4.S4, V8.S4, V0.S4
	SUB    $4, R2
	B      loop4

reduce:
	WORD $0x4e21d400 // FADD V0.4S, V0.4S, V1.4S
	WORD $0x4e23d442 // FADD V2.4S, V2.4S, V3.4S
	WORD $0x4e22d400 // FADD V0.4S, V0.4S, V2.4S
	WORD $0x6e20d400 // FADDP V0.4S, V0.4S, V0.4S
	WORD $0x7e30d800 // FADDP S0, V0.2S

tail:
	CBZ     R2, done
	FMOVS.P 4(R0), F4
	FMOVS.P 4(R1), F5
	FMULS   F4, F5, F5
	FADDS   F5, F0, F0
	SUB     $1, R2
	B       tail

done:
	FMOVS F0, ret+48(FP)
	RET

// func dotCodesAsm(q, x []uint64) uint64
TEXT ·dotCodesAsm(SB), NOSPLIT, $0-56
	MOVD q_base+0(FP), R0
	MOVD q_len+8(FP), R2
	MOVD x_base+24(FP), R1
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16

cloop8:
	CMP    $8, R2
	BLT    cloop2
	VLD1.P 64(R0), [V4.B16, V5.B16, V6.B16, V7.B16]
	VLD1.P 64(R1), [V8.B16, V9.B16, V10.B16, V11.B16]
	WORD $0x2e28c08c // UMULL V12.8H, V4.8B, V8.8B
	WORD $0x6e28c08d // UMULL2 V13.8H, V4.16B, V8.16B
	WORD $0x6e606980 // UADALP V0.4S, V12.8H
	WORD $0x6e6069a1 // UADALP V1.4S, V13.8H
	WORD $0x2e29c0ac // UMULL V12.8H, V5.8B, V9.8B
	WORD $0x6e29c0ad // UMULL2 V13.8H, V5.16B, V9.16B
	WORD $0x6e606980 // UADALP V0.4S, V12.8H
	WORD $0x6e6069a1 // UADALP V1.4S, V13.8H
	WORD $0x2e2ac0cc // UMULL V12.8H, V6.8B, V10.8B
	WORD $0x6e2ac0cd // UMULL2 V13.8H, V6.16B, V10.16B
	WORD $0x6e606980 // UADALP V0.4S, V12.8H
	WORD $0x6e6069a1 // UADALP V1.4S, V13.8H
	WORD $0x2e2bc0ec // UMULL V12.8H, V7.8B, V11.8B
	WORD $0x6e2bc0ed // UMULL2 V13.8H, V7.16B, V11.16B
	WORD $0x6e606980 // UADALP V0.4S, V12.8H
	WORD $0x6e6069a1 // UADALP V1.4S, V13.8H
	SUB    $8, R2
	B      cloop8

cloop2:
	CMP    $2, R2
	BLT    cloop1
	VLD1.P 16(R0), [V4.B16]
	VLD1.P 16(R1), [V8.B16]
	WORD $0x2e28c08c // UMULL V12.8H, V4.8B, V8.8B
	WORD $0x6e28c08d // UMULL2 V13.8H, V4.16B, V8.16B
	WORD $0x6e606980 // UADALP V0.4S, V12.8H
	WORD $0x6e6069a1 // UADALP V1.4S, V13.8H
	SUB    $2, R2
	B      cloop2

cloop1:
	CBZ    R2, creduce
	VLD1.P 8(R0), [V4.B8]
	VLD1.P 8(R1), [V8.B8]
	WORD $0x2e28c08c // UMULL V12.8H, V4.8B, V8.8B
	WORD $0x6e606980 // UADALP V0.4S, V12.8H
	SUB    $1, R2
	B      cloop1

creduce:
	VADD    V1.S4, V0.S4, V0.S4
	VUADDLV V0.S4, V0
	VMOV    V0.D[0], R3
	MOVD    R3, ret+48(FP)
	RET

// func sumWordsAsm(x []uint64) uint64
TEXT ·sumWordsAsm(SB), NOSPLIT, $0-32
	MOVD x_base+0(FP), R0
	MOVD x_len+8(FP), R2
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16

sloop:
	CMP    $8, R2
	BLT    sdone
	VLD1.P 64(R0), [V4.B16, V5.B16, V6.B16, V7.B16]
	VEOR   V4.B16, V0.B16, V0.B16
	VEOR   V5.B16, V1.B16, V1.B16
	VEOR   V6.B16, V2.B16, V2.B16
	VEOR   V7.B16, V3.B16, V3.B16
	SUB    $8, R2
	B      sloop

sdone:
	VEOR V1.B16, V0.B16, V0.B16
	VEOR V3.B16, V2.B16, V2.B16
	VEOR V2.B16, V0.B16, V0.B16
	VMOV V0.D[0], R3
	VMOV V0.D[1], R4
	EOR  R4, R3
	MOVD R3, ret+24(FP)
	RET
