// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Adapter from the UltraScale+ RC interface (dword alignment, no straddling) to the
// vendor-neutral completion stream: the 96-bit RC descriptor is removed and the payload
// shifted down by three dwords; the header travels in tuser on every output beat.
//
// RC descriptor (PG213):
//   [11:0] lower address  [15:12] error code  [28:16] byte count  [29] locked read
//   [30] request completed  [42:32] dword count  [45:43] status  [46] poisoned
//   [63:48] requester ID  [71:64] tag  [87:72] completer ID  [91:89] TC  [94:92] attributes
module pcie_us_rc #(
    // PCIe user interface width in bits
    parameter int AXIS_W = 256,
    // RC tuser width (75 for UltraScale+ at 256 bits)
    parameter int RC_USER_W = 75
) (
    input  wire                  clk,
    input  wire                  rst,

    // Requester completion (from the hard IP)
    input  wire [AXIS_W-1:0]     s_axis_rc_tdata,
    input  wire [AXIS_W/32-1:0]  s_axis_rc_tkeep,
    input  wire                  s_axis_rc_tvalid,
    output logic                 s_axis_rc_tready,
    input  wire                  s_axis_rc_tlast,
    input  wire [RC_USER_W-1:0]  s_axis_rc_tuser,

    // Completions to the DMA core
    output logic [AXIS_W-1:0]    m_axis_cpl_tdata,
    output logic [AXIS_W/32-1:0] m_axis_cpl_tkeep,
    output logic                 m_axis_cpl_tvalid,
    input  wire                  m_axis_cpl_tready,
    output logic                 m_axis_cpl_tlast,
    output logic [splitrx_pcie_pkg::CPL_HDR_W-1:0] m_axis_cpl_tuser
);

    import splitrx_pcie_pkg::*;

    if (AXIS_W != 256) begin : gen_check_width
        $fatal(0, "pcie_us_rc: only AXIS_W = 256 is implemented (instance %m)");
    end

    localparam int DESC_DW = 3;
    localparam int KEEP_W = AXIS_W / 32;
    localparam int CARRY_DW = KEEP_W - DESC_DW;

    typedef enum logic [1:0] {
        ST_FIRST,  // next input beat starts a completion
        ST_BODY,   // inside a completion's payload
        ST_TAIL    // input done; carried dwords still to send
    } state_e;

    state_e state_q, state_d;
    logic [32*CARRY_DW-1:0] carry_q, carry_d;
    logic [CARRY_DW-1:0]    carry_keep_q, carry_keep_d;
    cpl_hdr_t               hdr_q, hdr_d;

    cpl_hdr_t in_hdr;
    always_comb begin
        in_hdr                   = '0;
        in_hdr.lower_addr        = s_axis_rc_tdata[11:0];
        in_hdr.error_code        = s_axis_rc_tdata[15:12];
        in_hdr.byte_count        = s_axis_rc_tdata[28:16];
        in_hdr.request_completed = s_axis_rc_tdata[30];
        in_hdr.dw_count          = s_axis_rc_tdata[42:32];
        in_hdr.status            = s_axis_rc_tdata[45:43];
        in_hdr.tag               = s_axis_rc_tdata[71:64];
    end

    // input dwords that spill into the next output beat
    wire [CARRY_DW-1:0] in_upper_keep = s_axis_rc_tkeep[KEEP_W-1:DESC_DW];
    wire [DESC_DW-1:0]  in_lower_keep = s_axis_rc_tkeep[DESC_DW-1:0];

    always_comb begin
        state_d           = state_q;
        carry_d           = carry_q;
        carry_keep_d      = carry_keep_q;
        hdr_d             = hdr_q;
        s_axis_rc_tready  = 1'b0;
        m_axis_cpl_tdata  = '0;
        m_axis_cpl_tkeep  = '0;
        m_axis_cpl_tvalid = 1'b0;
        m_axis_cpl_tlast  = 1'b0;
        m_axis_cpl_tuser  = hdr_q;

        unique case (state_q)
            ST_FIRST: begin
                // The first beat only fills the carry; nothing is output for it.
                s_axis_rc_tready = 1'b1;
                if (s_axis_rc_tvalid) begin
                    hdr_d        = in_hdr;
                    carry_d      = s_axis_rc_tdata[AXIS_W-1:32*DESC_DW];
                    carry_keep_d = in_upper_keep;
                    state_d      = s_axis_rc_tlast ? ST_TAIL : ST_BODY;
                end
            end
            ST_BODY: begin
                s_axis_rc_tready  = m_axis_cpl_tready;
                m_axis_cpl_tvalid = s_axis_rc_tvalid;
                m_axis_cpl_tdata  = {s_axis_rc_tdata[32*DESC_DW-1:0], carry_q};
                m_axis_cpl_tkeep  = {in_lower_keep, carry_keep_q};
                m_axis_cpl_tlast  = s_axis_rc_tlast && (in_upper_keep == '0);
                if (s_axis_rc_tvalid && m_axis_cpl_tready) begin
                    carry_d      = s_axis_rc_tdata[AXIS_W-1:32*DESC_DW];
                    carry_keep_d = in_upper_keep;
                    if (m_axis_cpl_tlast) begin
                        state_d = ST_FIRST;
                    end else if (s_axis_rc_tlast) begin
                        state_d = ST_TAIL;
                    end
                end
            end
            ST_TAIL: begin
                // also the only beat of a completion without payload (error status)
                m_axis_cpl_tvalid = 1'b1;
                m_axis_cpl_tdata  = {{(32*DESC_DW){1'b0}}, carry_q};
                m_axis_cpl_tkeep  = {{DESC_DW{1'b0}}, carry_keep_q};
                m_axis_cpl_tlast  = 1'b1;
                if (m_axis_cpl_tready) begin
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
        hdr_q        <= hdr_d;
    end

    // tuser carries byte enables, sof/eof markers (straddling is off) and parity
    logic unused;
    assign unused = ^{s_axis_rc_tuser, s_axis_rc_tdata[95:72], s_axis_rc_tdata[63:46],
                      s_axis_rc_tdata[31], s_axis_rc_tdata[29]};

endmodule

`resetall
