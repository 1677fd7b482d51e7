// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// MSI-X table and Pending Bit Array (PCI Local Bus 3.0 section 6.8.2 / PCIe Base 7.7.2) in
// an 8 KiB register window, and interrupt delivery as posted memory writes on the
// vendor-neutral request stream.
//
// Register window (reg_addr is the byte offset inside it; DWORD accesses, byte enables on
// writes):
//   0x0000 + 16*n  entry n, n < VECTORS:
//     +0x0  message address [31:2]       (bits 1:0 read 0; writes to them are ignored)
//     +0x4  message upper address [63:32]
//     +0x8  message data
//     +0xC  vector control: [0] mask bit (1 after reset, per the spec); [31:1] read 0
//   0x1000 + 4*k   PBA DWORD k, k < 2*ceil(VECTORS/64): pending bit of vector 32*k + i at
//                  bit i. Read-only: a write is acknowledged and ignored.
//   anything else  reg_err (reads return 0, writes change nothing).
// Message address and data are datapath registers (not reset): software programs them
// before it unmasks a vector. The mask bits reset to 1, as the spec requires.
//
// Interrupt requests (irq_valid/irq_ready, irq_vector):
//   vector >= VECTORS          refused: one-cycle irq_bad_vector pulse, nothing else;
//   MSI-X disabled             dropped, counted in irq_drop_count;
//   vector or function masked  pending bit set (several requests coalesce into one);
//   otherwise                  one posted write: 1 DWORD (first_be 0xF, last_be 0) of the
//                              entry's message data to the entry's message address.
// A vector whose pending bit is set is sent (and its bit cleared) as soon as it is unmasked
// with the function enabled and not masked; pending vectors go before new requests, lowest
// vector first. The message is built from the table at the moment it is committed: later
// table writes do not change a message already committed.
//
// Rate: one message in flight; a message costs two clocks (commit, then the request beat)
// with tready high, so at most one message every 2 clocks. Requests that are dropped or set
// a pending bit are taken one per clock while no message is waiting.
//
// Ordering: the DMA core sends the completion records on the same request stream before
// raising irq for them, and posted writes stay in order through the request mux, the RQ
// adapter and PCIe, so the MSI-X write lands after the completion it announces. This block
// must therefore never reorder requests against that stream: it has no bypass path (no
// cfg_interrupt_msix_int of the hard IP), and every message goes out on m_axis_req.
//
// Request stream outputs come from registered state only (never from tready).
module msix #(
    // Number of MSI-X vectors (table entries), 1..64
    parameter int VECTORS = 16,
    // Request stream width in bits (a multiple of 32)
    parameter int AXIS_W = 256,
    // Bits in the low part of each 64-bit counter, 1..63 (32; narrower only so that a
    // simulation sees the low part carry into the high part)
    parameter int unsigned COUNT_LO_W = 32
) (
    input  wire                  clk,
    input  wire                  rst,

    // Register bus: BAR0 accesses already decoded to the MSI-X window; reg_req is a
    // one-cycle pulse, answered by reg_ack (with reg_err, reg_rd_data) on the next cycle
    input  wire                  reg_req,
    input  wire                  reg_is_wr,
    input  wire [12:0]           reg_addr,
    input  wire [31:0]           reg_wr_data,
    input  wire [3:0]            reg_wr_be,
    output logic                 reg_ack,
    output logic                 reg_err,
    output logic [31:0]          reg_rd_data,

    // MSI-X capability message control (hard IP cfg_interrupt_msix_enable / _mask bit of
    // this function)
    input  wire                  msix_enable,
    input  wire                  msix_fn_mask,

    // Interrupt requests
    input  wire                  irq_valid,
    output logic                 irq_ready,
    input  wire [5:0]            irq_vector,

    // Status
    output logic [63:0]          irq_drop_count,  // requests dropped while MSI-X disabled
    output logic [63:0]          msg_count,       // messages sent (request beats accepted)
    output logic                 irq_bad_vector,  // one-cycle pulse: vector >= VECTORS

    // Requests to the PCIe adapter
    output logic [AXIS_W-1:0]    m_axis_req_tdata,
    output logic [AXIS_W/32-1:0] m_axis_req_tkeep,
    output logic                 m_axis_req_tvalid,
    input  wire                  m_axis_req_tready,
    output logic                 m_axis_req_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_req_tuser
);

    import splitrx_pcie_pkg::*;

    if (VECTORS < 1 || VECTORS > 64) begin : gen_check_vectors
        $fatal(0, "msix: VECTORS must be 1..64 (instance %m)");
    end
    if (AXIS_W < 32 || AXIS_W % 32 != 0) begin : gen_check_width
        $fatal(0, "msix: AXIS_W must be a multiple of 32 (instance %m)");
    end
    if (COUNT_LO_W < 1 || COUNT_LO_W > 63) begin : gen_check_count_lo_w
        $fatal(0, "msix: COUNT_LO_W must be 1..63 (instance %m)");
    end

    localparam int VEC_W = (VECTORS > 1) ? $clog2(VECTORS) : 1;
    localparam int PBA_DWORDS = 2 * ((VECTORS + 63) / 64);  // the PBA is QWORD-sized
    localparam logic [8:0] VECTORS_L = 9'(VECTORS);
    localparam logic [9:0] PBA_DWORDS_L = 10'(PBA_DWORDS);
    localparam int unsigned LO_W = COUNT_LO_W;
    localparam int unsigned HI_W = 64 - COUNT_LO_W;

    typedef enum logic [0:0] {
        ST_IDLE,  // no message committed
        ST_SEND   // message on m_axis_req, waiting for tready
    } state_e;

    state_e state_q, state_d;

    // Table (datapath: no reset), mask bits and pending bits (control)
    logic [31:0] addr_lo_q [VECTORS];  // bits 1:0 always stored as 0
    logic [31:0] addr_hi_q [VECTORS];
    logic [31:0] data_q [VECTORS];
    logic [VECTORS-1:0] mask_q, mask_d;
    logic [VECTORS-1:0] pba_q, pba_d;

    // 64-bit counters in two parts (32 + 32 bits): the high part counts when the low part
    // wraps, which a registered flag (low part all ones) tells a clock ahead, so no carry chain
    // is longer than 32 bits and the 64-bit value is exact in every clock.
    logic [LO_W-1:0] drop_lo_q, msg_lo_q;
    logic [HI_W-1:0] drop_hi_q, msg_hi_q;
    logic            drop_lo_max_q, msg_lo_max_q;  // the low part is all ones
    logic        drop_inc, msg_inc;             // count this clock

    // Committed message (datapath)
    req_hdr_t    hdr_q, hdr_d;
    logic [31:0] msg_data_q, msg_data_d;

    // Register bus answer
    logic        ack_q, err_q;
    logic [31:0] rd_data_q, rd_data_d;
    logic        err_d;

    // ---------------------------------------------------------------- register decode
    wire             is_pba    = reg_addr[12];
    wire [7:0]       entry     = reg_addr[11:4];
    wire [1:0]       word      = reg_addr[3:2];
    wire [9:0]       pba_dw    = reg_addr[11:2];
    wire             entry_ok  = !is_pba && ({1'b0, entry} < VECTORS_L);
    wire             pba_ok    = is_pba && (pba_dw < PBA_DWORDS_L);
    wire [VEC_W-1:0] entry_idx = entry[VEC_W-1:0];
    wire             tbl_wr    = reg_req && reg_is_wr && entry_ok;

    wire [31:0] wr_bits = {{8{reg_wr_be[3]}}, {8{reg_wr_be[2]}}, {8{reg_wr_be[1]}},
                           {8{reg_wr_be[0]}}};
    wire [63:0] pba_wide = 64'(pba_q);

    always_comb begin
        rd_data_d = 32'd0;
        err_d     = 1'b0;
        if (entry_ok) begin
            unique case (word)
                2'd0: rd_data_d = addr_lo_q[entry_idx];
                2'd1: rd_data_d = addr_hi_q[entry_idx];
                2'd2: rd_data_d = data_q[entry_idx];
                2'd3: rd_data_d = {31'd0, mask_q[entry_idx]};
                default: ;
            endcase
        end else if (pba_ok) begin
            rd_data_d = pba_dw[0] ? pba_wide[63:32] : pba_wide[31:0];
        end else begin
            err_d = 1'b1;
        end
        if (reg_is_wr) begin
            rd_data_d = 32'd0;
        end
    end

    // Table entry words (no reset); the vector control word is mask_q, written below.
    always_ff @(posedge clk) begin
        if (tbl_wr) begin
            unique case (word)
                2'd0: addr_lo_q[entry_idx] <= ((addr_lo_q[entry_idx] & ~wr_bits)
                                               | (reg_wr_data & wr_bits)) & 32'hffff_fffc;
                2'd1: addr_hi_q[entry_idx] <= (addr_hi_q[entry_idx] & ~wr_bits)
                                              | (reg_wr_data & wr_bits);
                2'd2: data_q[entry_idx] <= (data_q[entry_idx] & ~wr_bits)
                                           | (reg_wr_data & wr_bits);
                default: ;
            endcase
        end
    end

    // ---------------------------------------------------------------- interrupts
    wire             vec_ok  = ({3'd0, irq_vector} < VECTORS_L);
    wire [VEC_W-1:0] irq_idx = irq_vector[VEC_W-1:0];

    logic [VECTORS-1:0] serviceable;  // pending and now free to be sent
    logic [VEC_W-1:0]   pend_idx;     // lowest serviceable vector

    always_comb begin
        serviceable = pba_q & ~mask_q & {VECTORS{msix_enable && !msix_fn_mask}};
        pend_idx    = '0;
        for (int i = VECTORS - 1; i >= 0; i--) begin
            if (serviceable[i]) begin
                pend_idx = VEC_W'(i);
            end
        end
    end

    always_comb begin
        state_d        = state_q;
        mask_d         = mask_q;
        pba_d          = pba_q;
        drop_inc       = 1'b0;
        msg_inc        = 1'b0;
        hdr_d          = hdr_q;
        msg_data_d     = msg_data_q;
        irq_ready      = 1'b0;
        irq_bad_vector = 1'b0;

        // vector control: only the mask bit is writable
        if (tbl_wr && word == 2'd3 && reg_wr_be[0]) begin
            mask_d[entry_idx] = reg_wr_data[0];
        end

        unique case (state_q)
            ST_IDLE: begin
                if (serviceable != '0) begin
                    pba_d[pend_idx] = 1'b0;
                    hdr_d           = '0;
                    hdr_d.kind      = REQ_MEM_WR;
                    hdr_d.first_be  = 4'hf;
                    hdr_d.last_be   = 4'h0;
                    hdr_d.dw_count  = 11'd1;
                    hdr_d.addr      = {addr_hi_q[pend_idx], addr_lo_q[pend_idx]};
                    msg_data_d      = data_q[pend_idx];
                    state_d         = ST_SEND;
                end else begin
                    irq_ready = 1'b1;
                    if (irq_valid) begin
                        if (!vec_ok) begin
                            irq_bad_vector = 1'b1;
                        end else if (!msix_enable) begin
                            drop_inc = 1'b1;
                        end else if (msix_fn_mask || mask_q[irq_idx]) begin
                            pba_d[irq_idx] = 1'b1;
                        end else begin
                            hdr_d          = '0;
                            hdr_d.kind     = REQ_MEM_WR;
                            hdr_d.first_be = 4'hf;
                            hdr_d.last_be  = 4'h0;
                            hdr_d.dw_count = 11'd1;
                            hdr_d.addr     = {addr_hi_q[irq_idx], addr_lo_q[irq_idx]};
                            msg_data_d     = data_q[irq_idx];
                            state_d        = ST_SEND;
                        end
                    end
                end
            end
            ST_SEND: begin
                if (m_axis_req_tready) begin
                    msg_inc     = 1'b1;
                    state_d     = ST_IDLE;
                end
            end
            default: state_d = ST_IDLE;
        endcase
    end

    // Outputs from registered state only (never from tready).
    always_comb begin
        m_axis_req_tdata       = '0;
        m_axis_req_tdata[31:0] = msg_data_q;
        m_axis_req_tkeep       = '0;
        m_axis_req_tkeep[0]    = 1'b1;
        m_axis_req_tvalid      = (state_q == ST_SEND);
        m_axis_req_tlast       = 1'b1;
        m_axis_req_tuser       = hdr_q;
    end

    assign reg_ack        = ack_q;
    assign reg_err        = err_q;
    assign reg_rd_data    = rd_data_q;
    assign irq_drop_count = {drop_hi_q, drop_lo_q};
    assign msg_count      = {msg_hi_q, msg_lo_q};

    // reg_addr is a DWORD address: bits 1:0 are not decoded (the byte enables are)
    logic unused;
    assign unused = ^reg_addr[1:0];

    always_ff @(posedge clk) begin
        if (rst) begin
            state_q      <= ST_IDLE;
            mask_q       <= '1;
            pba_q        <= '0;
            drop_lo_q     <= '0;
            drop_hi_q     <= '0;
            drop_lo_max_q <= 1'b0;
            msg_lo_q      <= '0;
            msg_hi_q      <= '0;
            msg_lo_max_q  <= 1'b0;
            ack_q        <= 1'b0;
            err_q        <= 1'b0;
        end else begin
            state_q      <= state_d;
            mask_q       <= mask_d;
            pba_q        <= pba_d;
            if (drop_inc) begin
                drop_lo_q     <= drop_lo_q + 1'b1;
                drop_lo_max_q <= drop_lo_q == ~LO_W'(1);  // all ones after this count
                if (drop_lo_max_q) begin
                    drop_hi_q <= drop_hi_q + 1'b1;
                end
            end
            if (msg_inc) begin
                msg_lo_q     <= msg_lo_q + 1'b1;
                msg_lo_max_q <= msg_lo_q == ~LO_W'(1);
                if (msg_lo_max_q) begin
                    msg_hi_q <= msg_hi_q + 1'b1;
                end
            end
            ack_q        <= reg_req;
            err_q        <= reg_req && err_d;
        end
        hdr_q      <= hdr_d;
        msg_data_q <= msg_data_d;
        rd_data_q  <= rd_data_d;
    end

endmodule

`resetall
