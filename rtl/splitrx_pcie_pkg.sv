// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Vendor-neutral TLP request format used between the DMA core and the PCIe adapter.
// Only pcie_us_* modules know the Xilinx UltraScale+ descriptor layouts.
package splitrx_pcie_pkg;

    // Request kinds on the internal request stream.
    typedef enum logic [1:0] {
        REQ_MEM_WR = 2'd0,   // posted memory write, payload follows
        REQ_MEM_RD = 2'd1    // memory read request, no payload
    } req_kind_e;

    // Header of one request; travels in tuser with the request's first beat.
    // Payload beats carry dword-aligned data: dword 0 of the payload is the dword that
    // holds address addr & ~3, at bits [31:0] of the first beat.
    typedef struct packed {
        req_kind_e   kind;
        logic [7:0]  tag;        // reads: completion tag
        logic [3:0]  last_be;    // byte enables of the last dword (0 when dw_count == 1)
        logic [3:0]  first_be;   // byte enables of the first dword
        logic [10:0] dw_count;   // payload dwords (1..1024; 0 encodes 1024)
        logic [63:0] addr;       // byte address; bits [1:0] are implied by first_be
    } req_hdr_t;

    localparam int REQ_HDR_W = $bits(req_hdr_t);

    // Header of one completion (of a read request); travels in tuser with every beat of the
    // completion on the internal completion stream. Payload beats are dword-aligned:
    // dword 0 of the payload is at bits [31:0] of the first beat.
    typedef struct packed {
        logic [7:0]  tag;
        logic [2:0]  status;            // CPL_SC, CPL_UR, CPL_CA
        logic [3:0]  error_code;        // UltraScale+ RC error code (0: none)
        logic        request_completed; // last completion of its request
        logic [12:0] byte_count;        // bytes still to come for the request, this one included
        logic [11:0] lower_addr;        // address of the first byte of this completion
        logic [10:0] dw_count;          // payload dwords in this completion
    } cpl_hdr_t;

    localparam int CPL_HDR_W = $bits(cpl_hdr_t);

    // UltraScale+ request types (PG213 table "Transaction Types").
    localparam logic [3:0] US_REQ_MEM_RD = 4'b0000;
    localparam logic [3:0] US_REQ_MEM_WR = 4'b0001;

    // PCIe completion status codes.
    localparam logic [2:0] CPL_SC = 3'b000;  // successful completion
    localparam logic [2:0] CPL_UR = 3'b001;  // unsupported request
    localparam logic [2:0] CPL_CA = 3'b100;  // completer abort

    // Byte count and lower address of a single-DWORD request from its first byte enables
    // (PCIe base spec, completion byte count rules for requests of length 1).
    function automatic logic [2:0] be_byte_count(input logic [3:0] be);
        casez (be)
            4'b1??1: return 3'd4;
            4'b01?1: return 3'd3;
            4'b1?10: return 3'd3;
            4'b0011, 4'b0110, 4'b1100: return 3'd2;
            default: return 3'd1;
        endcase
    endfunction

    function automatic logic [1:0] be_lower_addr(input logic [3:0] be);
        casez (be)
            4'b???1: return 2'd0;
            4'b??10: return 2'd1;
            4'b?100: return 2'd2;
            4'b1000: return 2'd3;
            default: return 2'd0;
        endcase
    endfunction

endpackage

`resetall
