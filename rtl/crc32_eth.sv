// SPDX-License-Identifier: MIT
//
// One parallel step of the Ethernet CRC-32 (IEEE 802.3; reflected polynomial 0x04C11DB7,
// i.e. 0xEDB88320 shifting right, as zlib.crc32). The state is the raw LFSR register: start
// a frame with 32'hFFFFFFFF; the FCS on the wire is ~state; after the FCS bytes themselves
// have been stepped in, a good frame leaves the residue 32'hDEBB20E3.
//
// The step is purely combinational: an XOR matrix over {data, crc_in}, derived at elaboration
// by running the bit-serial LFSR symbolically (each state bit tracked as the set of inputs it
// XORs together), so synthesis sees one XOR tree per output bit and no serial chain.

`resetall
`timescale 1ns / 1ps
`default_nettype none

// Ethernet CRC-32 over DATA_BYTES bytes in one combinational step.
module crc32_eth #(
    // Bytes stepped in at once (1..8); byte 0 (data[7:0]) is first on the wire.
    parameter int unsigned DATA_BYTES = 8
) (
    // State before the step (32'hFFFFFFFF at the start of a frame).
    input  wire logic [31:0]               crc_in,
    // Bytes to step in, byte k in data[8*k +: 8], each sent LSB first.
    input  wire logic [8*DATA_BYTES-1:0]   data,
    // State after the step.
    output logic      [31:0]               crc_out
);

    localparam int unsigned DATA_W = 8 * DATA_BYTES;
    // Matrix columns: crc_in in bits [31:0], data in bits [DATA_W+31:32].
    localparam int unsigned IN_W = 32 + DATA_W;
    localparam logic [31:0] POLY_REFLECTED = 32'hEDB88320;

    typedef logic [31:0][IN_W-1:0] matrix_t;

    // Row i: which inputs XOR into output bit i.
    function automatic matrix_t crc_matrix();
        matrix_t st;
        logic [IN_W-1:0] fb;
        for (int unsigned i = 0; i < 32; i++) begin
            st[i] = IN_W'(1) << i;
        end
        for (int unsigned b = 0; b < DATA_W; b++) begin
            fb = st[0] ^ (IN_W'(1) << (32 + b));
            for (int unsigned i = 0; i < 31; i++) begin
                st[i] = st[i+1] ^ (POLY_REFLECTED[i] ? fb : '0);
            end
            st[31] = POLY_REFLECTED[31] ? fb : '0;
        end
        return st;
    endfunction

    localparam matrix_t MATRIX = crc_matrix();

    if (DATA_BYTES < 1 || DATA_BYTES > 8) begin : g_check
        $fatal(0, "crc32_eth: DATA_BYTES must be 1..8, got %0d (instance %m)", DATA_BYTES);
    end

    logic [IN_W-1:0] in_bits;
    assign in_bits = {data, crc_in};

    always_comb begin
        for (int unsigned i = 0; i < 32; i++) begin
            crc_out[i] = ^(in_bits & MATRIX[i]);
        end
    end

endmodule

`resetall
