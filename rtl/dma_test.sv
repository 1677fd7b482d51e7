// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// DMA self-test: on start, one posted memory write of 1..32 bytes from a register image to
// any bus address (unaligned allowed), as a request on the vendor-neutral request stream.
// A length outside 1..32, or a write that would cross a 4 KiB boundary (a single TLP must
// not), is refused with a one-cycle bad_req pulse and nothing is sent.
module dma_test #(
    // Request stream width in bits
    parameter int AXIS_W = 256
) (
    input  wire                  clk,
    input  wire                  rst,

    // Control (from registers)
    input  wire                  start,
    input  wire [63:0]           addr,
    input  wire [5:0]            len_bytes,
    input  wire [255:0]          data,
    output logic                 busy,
    output logic [15:0]          done_count,
    output logic                 bad_req,

    // Requests to the PCIe adapter
    output logic [AXIS_W-1:0]    m_axis_req_tdata,
    output logic [AXIS_W/32-1:0] m_axis_req_tkeep,
    output logic                 m_axis_req_tvalid,
    input  wire                  m_axis_req_tready,
    output logic                 m_axis_req_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_req_tuser
);

    import splitrx_pcie_pkg::*;

    if (AXIS_W != 256) begin : gen_check_width
        $fatal(0, "dma_test: only AXIS_W = 256 is implemented (instance %m)");
    end

    localparam int MAX_BYTES = 32;
    localparam logic [12:0] PAGE_BYTES = 13'h1000;

    typedef enum logic [1:0] {
        ST_IDLE,
        ST_BEAT0,
        ST_BEAT1
    } state_e;

    state_e state_q, state_d;
    logic [15:0] done_count_q, done_count_d;

    // Request image, captured on start (datapath: no reset)
    logic [287:0] payload_q, payload_d;  // data shifted to its byte lanes, 9 dwords
    req_hdr_t     hdr_q, hdr_d;

    wire [1:0]  offset    = addr[1:0];
    wire [6:0]  span      = {5'd0, offset} + {1'b0, len_bytes};      // bytes incl. leading offset
    wire [3:0]  dw_count  = 4'(span[6:2] + {4'd0, span[1:0] != 2'd0});
    wire [1:0]  end_bytes = span[1:0];
    wire [3:0]  last_mask = (end_bytes == 2'd0) ? 4'hf : (4'hf >> (3'd4 - {1'b0, end_bytes}));
    wire [3:0]  first_mask = 4'hf << offset;
    wire        len_ok    = len_bytes != 6'd0 && len_bytes <= 6'(MAX_BYTES);
    wire        crosses   = ({1'b0, addr[11:0]} + {7'd0, len_bytes}) > PAGE_BYTES;

    always_comb begin
        state_d          = state_q;
        done_count_d     = done_count_q;
        payload_d        = payload_q;
        hdr_d            = hdr_q;
        bad_req          = 1'b0;

        unique case (state_q)
            ST_IDLE: begin
                if (start) begin
                    if (!len_ok || crosses) begin
                        bad_req = 1'b1;
                    end else begin
                        payload_d      = {32'd0, data} << {offset, 3'b000};
                        hdr_d          = '0;
                        hdr_d.kind     = REQ_MEM_WR;
                        hdr_d.addr     = addr;
                        hdr_d.dw_count = {7'd0, dw_count};
                        if (dw_count == 4'd1) begin
                            hdr_d.first_be = first_mask & last_mask;
                            hdr_d.last_be  = 4'h0;
                        end else begin
                            hdr_d.first_be = first_mask;
                            hdr_d.last_be  = last_mask;
                        end
                        state_d = ST_BEAT0;
                    end
                end
            end
            ST_BEAT0: begin
                if (m_axis_req_tready) begin
                    if (m_axis_req_tlast) begin
                        done_count_d = done_count_q + 16'd1;
                        state_d      = ST_IDLE;
                    end else begin
                        state_d = ST_BEAT1;
                    end
                end
            end
            ST_BEAT1: begin
                if (m_axis_req_tready) begin
                    done_count_d = done_count_q + 16'd1;
                    state_d      = ST_IDLE;
                end
            end
            default: state_d = ST_IDLE;
        endcase
    end

    // Outputs from registered state only (never from tready): no loop through the arbiter.
    always_comb begin
        m_axis_req_tdata  = '0;
        m_axis_req_tkeep  = '0;
        m_axis_req_tvalid = 1'b0;
        m_axis_req_tlast  = 1'b0;
        m_axis_req_tuser  = hdr_q;
        unique case (state_q)
            ST_BEAT0: begin
                m_axis_req_tvalid = 1'b1;
                m_axis_req_tdata  = payload_q[255:0];
                m_axis_req_tkeep  = (hdr_q.dw_count >= 11'd8) ? 8'hff
                                  : 8'((9'd1 << hdr_q.dw_count[3:0]) - 9'd1);
                m_axis_req_tlast  = hdr_q.dw_count <= 11'd8;
            end
            ST_BEAT1: begin
                m_axis_req_tvalid = 1'b1;
                m_axis_req_tdata  = {224'd0, payload_q[287:256]};
                m_axis_req_tkeep  = 8'h01;
                m_axis_req_tlast  = 1'b1;
            end
            default: ;
        endcase
    end

    assign busy       = (state_q != ST_IDLE);
    assign done_count = done_count_q;

    always_ff @(posedge clk) begin
        if (rst) begin
            state_q      <= ST_IDLE;
            done_count_q <= '0;
        end else begin
            state_q      <= state_d;
            done_count_q <= done_count_d;
        end
        payload_q <= payload_d;
        hdr_q     <= hdr_d;
    end

endmodule

`resetall
