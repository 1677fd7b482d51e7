// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Adapter from the vendor-neutral request stream (splitrx_pcie_pkg::req_hdr_t in tuser of
// the first beat, dword-aligned payload) to the UltraScale+ RQ interface (dword alignment).
//
// The RQ descriptor takes the low 128 bits of the first beat, so every payload beat is
// shifted up by four dwords; the upper half of each input beat is carried into the next
// output beat, and a tail beat is added when the carried dwords do not fit.
//
// RQ descriptor (PG213):
//   [1:0] AT  [63:2] address  [74:64] dword count  [78:75] request type  [79] poisoned
//   [95:80] requester ID  [103:96] tag  [119:104] completer ID  [120] requester ID enable
//   [123:121] TC  [126:124] attributes  [127] force ECRC
// RQ tuser (256-bit UltraScale+, 62 bits): [3:0] first BE  [7:4] last BE
//   [10:8] address offset  [11] discontinue  [27:24], [61:60] sequence number
module pcie_us_rq #(
    // PCIe user interface width in bits
    parameter int AXIS_W = 256,
    // RQ tuser width (62 for UltraScale+ at 256 bits)
    parameter int RQ_USER_W = 62
) (
    input  wire                   clk,
    input  wire                   rst,

    // Requests from the DMA core
    input  wire [AXIS_W-1:0]      s_axis_req_tdata,
    input  wire [AXIS_W/32-1:0]   s_axis_req_tkeep,
    input  wire                   s_axis_req_tvalid,
    output logic                  s_axis_req_tready,
    input  wire                   s_axis_req_tlast,
    input  wire [splitrx_pcie_pkg::REQ_HDR_W-1:0] s_axis_req_tuser,

    // Requester request (to the hard IP)
    output logic [AXIS_W-1:0]     m_axis_rq_tdata,
    output logic [AXIS_W/32-1:0]  m_axis_rq_tkeep,
    output logic                  m_axis_rq_tvalid,
    input  wire                   m_axis_rq_tready,
    output logic                  m_axis_rq_tlast,
    output logic [RQ_USER_W-1:0]  m_axis_rq_tuser
);

    import splitrx_pcie_pkg::*;

    if (AXIS_W != 256) begin : gen_check_width
        $fatal(0, "pcie_us_rq: only AXIS_W = 256 is implemented (instance %m)");
    end

    localparam int HALF = AXIS_W / 2;
    localparam int HALF_DW = AXIS_W / 64;

    typedef enum logic [1:0] {
        ST_FIRST,  // next input beat starts a request
        ST_BODY,   // inside a write's payload
        ST_TAIL    // input done; carried dwords still to send
    } state_e;

    state_e state_q, state_d;
    logic [HALF-1:0]    carry_q, carry_d;
    logic [HALF_DW-1:0] carry_keep_q, carry_keep_d;

    req_hdr_t hdr;
    assign hdr = req_hdr_t'(s_axis_req_tuser);

    logic [127:0] desc;
    always_comb begin
        desc          = '0;
        desc[63:2]    = hdr.addr[63:2];
        desc[74:64]   = hdr.dw_count;
        desc[78:75]   = (hdr.kind == REQ_MEM_WR) ? US_REQ_MEM_WR : US_REQ_MEM_RD;
        desc[103:96]  = hdr.tag;
    end

    always_comb begin
        state_d           = state_q;
        carry_d           = carry_q;
        carry_keep_d      = carry_keep_q;
        s_axis_req_tready = 1'b0;
        m_axis_rq_tdata   = '0;
        m_axis_rq_tkeep   = '0;
        m_axis_rq_tvalid  = 1'b0;
        m_axis_rq_tlast   = 1'b0;
        m_axis_rq_tuser   = '0;

        unique case (state_q)
            ST_FIRST: begin
                s_axis_req_tready = m_axis_rq_tready;
                m_axis_rq_tvalid  = s_axis_req_tvalid;
                m_axis_rq_tuser[3:0] = hdr.first_be;
                m_axis_rq_tuser[7:4] = hdr.last_be;
                if (hdr.kind == REQ_MEM_WR) begin
                    m_axis_rq_tdata = {s_axis_req_tdata[HALF-1:0], desc};
                    m_axis_rq_tkeep = {s_axis_req_tkeep[HALF_DW-1:0], 4'hf};
                    m_axis_rq_tlast = s_axis_req_tlast && (s_axis_req_tkeep[2*HALF_DW-1:HALF_DW] == '0);
                end else begin
                    m_axis_rq_tdata = {{HALF{1'b0}}, desc};
                    m_axis_rq_tkeep = 8'h0f;
                    m_axis_rq_tlast = 1'b1;
                end
                if (s_axis_req_tvalid && m_axis_rq_tready) begin
                    carry_d      = s_axis_req_tdata[AXIS_W-1:HALF];
                    carry_keep_d = s_axis_req_tkeep[2*HALF_DW-1:HALF_DW];
                    if (hdr.kind == REQ_MEM_WR && !m_axis_rq_tlast) begin
                        state_d = s_axis_req_tlast ? ST_TAIL : ST_BODY;
                    end
                end
            end
            ST_BODY: begin
                s_axis_req_tready = m_axis_rq_tready;
                m_axis_rq_tvalid  = s_axis_req_tvalid;
                m_axis_rq_tdata   = {s_axis_req_tdata[HALF-1:0], carry_q};
                m_axis_rq_tkeep   = {s_axis_req_tkeep[HALF_DW-1:0], carry_keep_q};
                m_axis_rq_tlast   = s_axis_req_tlast && (s_axis_req_tkeep[2*HALF_DW-1:HALF_DW] == '0);
                if (s_axis_req_tvalid && m_axis_rq_tready) begin
                    carry_d      = s_axis_req_tdata[AXIS_W-1:HALF];
                    carry_keep_d = s_axis_req_tkeep[2*HALF_DW-1:HALF_DW];
                    if (m_axis_rq_tlast) begin
                        state_d = ST_FIRST;
                    end else if (s_axis_req_tlast) begin
                        state_d = ST_TAIL;
                    end
                end
            end
            ST_TAIL: begin
                m_axis_rq_tvalid = 1'b1;
                m_axis_rq_tdata  = {{HALF{1'b0}}, carry_q};
                m_axis_rq_tkeep  = {{HALF_DW{1'b0}}, carry_keep_q};
                m_axis_rq_tlast  = 1'b1;
                if (m_axis_rq_tready) begin
                    state_d = ST_FIRST;
                end
            end
            default: state_d = ST_FIRST;
        endcase
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            state_q <= ST_FIRST;
        end else begin
            state_q <= state_d;
        end
        carry_q      <= carry_d;
        carry_keep_q <= carry_keep_d;
    end

endmodule

`resetall
