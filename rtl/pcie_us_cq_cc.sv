// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// BAR0 completer: turns UltraScale+ CQ memory requests into single-DWORD register accesses
// and answers reads on CC.
//
// Accepted: memory read or write of exactly one DWORD to BAR0 (any byte enables).
// Anything else sets bad_access for one cycle; a bad read is answered with a completion of
// status CA (memory request of the wrong size or BAR) or UR (not a memory request), a bad
// write is dropped. A register access that the register bus answers with an error is
// handled the same way. One access is outstanding at a time; CQ is back-pressured meanwhile.
//
// Timing: the register bus is driven from registers only. A request taken from CQ is captured
// first and issued on the register bus the clock after (ST_REQ), so no path runs from the
// hard IP's CQ beat into the register decoders. The answer is expected from registers too (in
// splitrx_core the register block answers writes the clock after reg_req and reads 2 clocks
// after, the MSI-X block the clock after), so no path runs from the decoders back into this
// block's state. bad_access is registered (it sets a register block field). A read answered 2
// clocks after reg_req has its completion valid on CC 4 clocks after the clock its CQ beat was
// taken in; a write answered the clock after takes 3 clocks.
//
// CQ descriptor (first 128 bits of the first beat, PG213):
//   [1:0] AT  [63:2] address  [74:64] dword count  [78:75] request type
//   [95:80] requester ID  [103:96] tag  [111:104] target function  [114:112] BAR ID
//   [120:115] BAR aperture  [123:121] TC  [126:124] attributes
// CQ tuser (256-bit): [3:0] first BE  [7:4] last BE  [40] sop  [41] discontinue
// CC descriptor (96 bits, followed by the payload dword at [127:96]):
//   [6:0] lower address  [9:8] AT  [28:16] byte count  [42:32] dword count
//   [45:43] status  [63:48] requester ID  [71:64] tag  [87:72] completer ID
//   [88] completer ID enable  [91:89] TC  [94:92] attributes
module pcie_us_cq_cc #(
    // PCIe user interface width in bits (256: Gen3 x8 at 250 MHz)
    parameter int AXIS_W = 256,
    // CQ tuser width (88 for UltraScale+ at 256 bits)
    parameter int CQ_USER_W = 88,
    // CC tuser width (33 for UltraScale+ at 256 bits)
    parameter int CC_USER_W = 33,
    // log2 of the BAR0 aperture in bytes
    parameter int BAR_ADDR_W = 16
) (
    input  wire                   clk,
    input  wire                   rst,

    // Completer request (from the hard IP)
    input  wire [AXIS_W-1:0]      s_axis_cq_tdata,
    input  wire [AXIS_W/32-1:0]   s_axis_cq_tkeep,
    input  wire                   s_axis_cq_tvalid,
    output logic                  s_axis_cq_tready,
    input  wire                   s_axis_cq_tlast,
    input  wire [CQ_USER_W-1:0]   s_axis_cq_tuser,

    // Completer completion (to the hard IP)
    output logic [AXIS_W-1:0]     m_axis_cc_tdata,
    output logic [AXIS_W/32-1:0]  m_axis_cc_tkeep,
    output logic                  m_axis_cc_tvalid,
    input  wire                   m_axis_cc_tready,
    output logic                  m_axis_cc_tlast,
    output logic [CC_USER_W-1:0]  m_axis_cc_tuser,

    // Register bus: one DWORD access; reg_req is a one-cycle pulse, answered by reg_ack in the
    // same cycle or later; every output is a register
    output logic                  reg_req,
    output logic                  reg_is_wr,
    output logic [BAR_ADDR_W-1:0] reg_addr,
    output logic [31:0]           reg_wr_data,
    output logic [3:0]            reg_wr_be,
    input  wire                   reg_ack,
    input  wire                   reg_err,
    input  wire [31:0]            reg_rd_data,

    // One-cycle pulse (registered): a request was refused or answered with an error
    output logic                  bad_access
);

    import splitrx_pcie_pkg::*;

    if (AXIS_W != 256) begin : gen_check_width
        $fatal(0, "pcie_us_cq_cc: only AXIS_W = 256 is implemented (instance %m)");
    end

    typedef enum logic [2:0] {
        ST_IDLE,   // waiting for the first beat of a request
        ST_DRAIN,  // discarding the remaining beats of a refused request
        ST_REQ,    // register access captured: reg_req this clock
        ST_REG,    // register access issued, waiting for reg_ack
        ST_CPL     // completion on CC, waiting for tready
    } state_e;

    state_e state_q, state_d;

    // Request fields kept for the completion (datapath: no reset)
    logic [15:0] req_id_q, req_id_d;
    logic [7:0]  tag_q, tag_d;
    logic [2:0]  tc_q, tc_d;
    logic [2:0]  attr_q, attr_d;
    logic [3:0]  first_be_q, first_be_d;
    logic [BAR_ADDR_W-1:0] addr_q, addr_d;
    logic        is_wr_q, is_wr_d;  // posted request (no completion owed)
    logic [31:0] wr_data_q, wr_data_d;
    logic [2:0]  cpl_status_q, cpl_status_d;
    logic [31:0] rd_data_q, rd_data_d;
    logic        bad_q, bad_d;  // bad_access, one clock late

    // First-beat decode
    wire [10:0] cq_dw_count = s_axis_cq_tdata[74:64];
    wire [3:0]  cq_req_type = s_axis_cq_tdata[78:75];
    wire [2:0]  cq_bar_id   = s_axis_cq_tdata[114:112];
    wire [3:0]  cq_first_be = s_axis_cq_tuser[3:0];
    wire        cq_is_mem   = (cq_req_type == US_REQ_MEM_RD) || (cq_req_type == US_REQ_MEM_WR);
    wire        cq_is_wr    = (cq_req_type == US_REQ_MEM_WR);
    // posted: memory writes and messages (request types 11xx) get no completion
    wire        cq_posted   = cq_is_wr || (cq_req_type[3:2] == 2'b11);
    wire        cq_good     = cq_is_mem && cq_dw_count == 11'd1 && cq_bar_id == 3'd0;

    always_comb begin
        state_d      = state_q;
        req_id_d     = req_id_q;
        tag_d        = tag_q;
        tc_d         = tc_q;
        attr_d       = attr_q;
        first_be_d   = first_be_q;
        addr_d       = addr_q;
        is_wr_d      = is_wr_q;
        wr_data_d    = wr_data_q;
        cpl_status_d = cpl_status_q;
        rd_data_d    = rd_data_q;

        s_axis_cq_tready = 1'b0;
        bad_d            = 1'b0;

        unique case (state_q)
            ST_IDLE: begin
                s_axis_cq_tready = 1'b1;
                if (s_axis_cq_tvalid) begin
                    req_id_d   = s_axis_cq_tdata[95:80];
                    tag_d      = s_axis_cq_tdata[103:96];
                    tc_d       = s_axis_cq_tdata[123:121];
                    attr_d     = s_axis_cq_tdata[126:124];
                    first_be_d = cq_first_be;
                    addr_d     = {s_axis_cq_tdata[BAR_ADDR_W-1:2], 2'b00};
                    is_wr_d    = cq_posted;
                    wr_data_d  = s_axis_cq_tdata[159:128];
                    rd_data_d  = 32'd0;
                    if (cq_good) begin
                        // a one-DWORD request is one beat; anything longer is not cq_good
                        state_d = ST_REQ;
                    end else begin
                        bad_d        = 1'b1;
                        cpl_status_d = cq_is_mem ? CPL_CA : CPL_UR;
                        if (!s_axis_cq_tlast) begin
                            state_d = ST_DRAIN;
                        end else if (!cq_posted) begin
                            state_d = ST_CPL;
                        end
                    end
                end
            end
            ST_DRAIN: begin
                s_axis_cq_tready = 1'b1;
                if (s_axis_cq_tvalid && s_axis_cq_tlast) begin
                    state_d = is_wr_q ? ST_IDLE : ST_CPL;
                end
            end
            ST_REQ, ST_REG: begin
                // the register bus may answer in the request cycle (ST_REQ) or later
                if (state_q == ST_REQ) begin
                    state_d = ST_REG;
                end
                if (reg_ack) begin
                    rd_data_d    = reg_err ? 32'd0 : reg_rd_data;
                    cpl_status_d = reg_err ? CPL_CA : CPL_SC;
                    bad_d        = reg_err;
                    state_d      = is_wr_q ? ST_IDLE : ST_CPL;
                end
            end
            ST_CPL: begin
                if (m_axis_cc_tready) begin
                    state_d = ST_IDLE;
                end
            end
            default: state_d = ST_IDLE;
        endcase
    end

    // Register bus outputs come straight from the captured request's registers.
    assign reg_req     = (state_q == ST_REQ);
    assign reg_is_wr   = is_wr_q;
    assign reg_addr    = addr_q;
    assign reg_wr_data = wr_data_q;
    assign reg_wr_be   = first_be_q;
    assign bad_access  = bad_q;

    // Completion: one beat, descriptor + at most one payload dword.
    wire cpl_ok = (cpl_status_q == CPL_SC);
    always_comb begin
        m_axis_cc_tdata         = '0;
        m_axis_cc_tdata[6:0]    = {addr_q[6:2], be_lower_addr(first_be_q)};
        m_axis_cc_tdata[28:16]  = {10'd0, be_byte_count(first_be_q)};
        m_axis_cc_tdata[42:32]  = cpl_ok ? 11'd1 : 11'd0;
        m_axis_cc_tdata[45:43]  = cpl_status_q;
        m_axis_cc_tdata[63:48]  = req_id_q;
        m_axis_cc_tdata[71:64]  = tag_q;
        m_axis_cc_tdata[91:89]  = tc_q;
        m_axis_cc_tdata[94:92]  = attr_q;
        m_axis_cc_tdata[127:96] = rd_data_q;
        m_axis_cc_tkeep         = cpl_ok ? 8'h0f : 8'h07;
        m_axis_cc_tvalid        = (state_q == ST_CPL);
        m_axis_cc_tlast         = 1'b1;
        m_axis_cc_tuser         = '0;
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            state_q <= ST_IDLE;
            bad_q   <= 1'b0;
        end else begin
            state_q <= state_d;
            bad_q   <= bad_d;
        end

        req_id_q     <= req_id_d;
        tag_q        <= tag_d;
        tc_q         <= tc_d;
        attr_q       <= attr_d;
        first_be_q   <= first_be_d;
        addr_q       <= addr_d;
        is_wr_q      <= is_wr_d;
        wr_data_q    <= wr_data_d;
        cpl_status_q <= cpl_status_d;
        rd_data_q    <= rd_data_d;
    end

    // Unused inputs: tkeep (a single-DWORD request always fits the first beat), most tuser
    // bits (parity, byte enables of later dwords, discontinue).
    logic unused;
    assign unused = ^{s_axis_cq_tkeep, s_axis_cq_tuser[CQ_USER_W-1:4], s_axis_cq_tdata[AXIS_W-1:160],
                      s_axis_cq_tdata[127], s_axis_cq_tdata[120:115], s_axis_cq_tdata[111:104],
                      s_axis_cq_tdata[79], s_axis_cq_tdata[63:BAR_ADDR_W], s_axis_cq_tdata[1:0]};

endmodule

`resetall
