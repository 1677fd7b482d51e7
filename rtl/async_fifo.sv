// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Dual-clock word FIFO: gray-coded pointers cross through sync_2ff, registered flags and output.
//
// Write side (s_clk): s_axis_tready is registered (= !s_full), s_level is the number of words
// in the memory as the write side sees it -- never less than the truth, since the read pointer
// it subtracts is a few cycles old. Read side (m_clk): m_axis_* come from an output register
// refilled from the memory; m_empty = no word presented. Capacity: 2**DEPTH_LOG2 words in the
// memory plus one in the output register. Throughput: one word per cycle on each side.
//
// Resets: s_rst and m_rst are each synchronous to their own clock and driven from a register.
// Each crosses to the other side through a synchronizer. The pointers and the pointer
// synchronizers are cleared only when a side sees both resets at once: at start-up, where the
// two must overlap by at least 4 cycles of the slower clock. A side reset alone while the other
// runs (the PCIe user reset follows link events while the MAC keeps receiving) keeps the
// pointers, so the gray codes never jump and no word is lost or replayed. The write side takes
// no word while s_rst is high; the read side keeps its output word. Frame boundaries across
// such a reset are the wrapper's business (async_frame_fifo, rx_frontend); s_both_rst and
// m_both_rst tell it when a start-up reset is seen in its domain.
module async_fifo #(
    // Width of one word in bits.
    parameter int unsigned DATA_W        = 8,
    // log2 of the memory depth in words (memory holds 2**DEPTH_LOG2 words), >= 1.
    parameter int unsigned DEPTH_LOG2    = 4,
    // Simulation only: random 2-or-3-cycle synchronizer delay (see sync_2ff).
    parameter bit          SIM_JITTER_EN = 1'b0
) (
    // ---- clocks and resets (each reset synchronous to its own clock, active high) ----
    input  logic                s_clk,
    input  logic                s_rst,
    input  logic                m_clk,
    input  logic                m_rst,

    // ---- write side: AXI stream in (s_clk) ----
    input  logic [DATA_W-1:0]   s_axis_tdata,
    input  logic                s_axis_tvalid,
    output logic                s_axis_tready,

    // ---- write-side status (s_clk) ----
    output logic                s_full,     // memory full as seen by the write side
    output logic [DEPTH_LOG2:0] s_level,    // words in the memory (an upper bound, registered)
    output logic                s_both_rst, // s_rst, and m_rst seen here too: start-up reset

    // ---- read side: AXI stream out (m_clk) ----
    output logic [DATA_W-1:0]   m_axis_tdata,
    output logic                m_axis_tvalid,
    input  logic                m_axis_tready,

    // ---- read-side status (m_clk) ----
    output logic                m_empty,    // no word presented on m_axis (registered)
    output logic                m_both_rst  // m_rst, and s_rst seen here too: start-up reset
);

    localparam int unsigned DEPTH = 2 ** DEPTH_LOG2;  // words in the memory
    localparam int unsigned PTR_W = DEPTH_LOG2 + 1;   // pointer: address + wrap bit

    if (DATA_W == 0 || DEPTH_LOG2 == 0 || DEPTH_LOG2 > 16) begin : g_check
        $fatal(0, "async_fifo: need DATA_W >= 1 and 1 <= DEPTH_LOG2 <= 16 (instance %m)");
    end

    function automatic logic [PTR_W-1:0] bin2gray(input logic [PTR_W-1:0] b);
        return b ^ (b >> 1);
    endfunction

    function automatic logic [PTR_W-1:0] gray2bin(input logic [PTR_W-1:0] g);
        logic [PTR_W-1:0] b;
        b[PTR_W-1] = g[PTR_W-1];
        for (int i = PTR_W - 2; i >= 0; i--) begin
            b[i] = b[i+1] ^ g[i];
        end
        return b;
    endfunction

    logic [DATA_W-1:0] mem [DEPTH];  // written in s_clk, read in m_clk; datapath, unreset

    // ------------------------------------------------------------------ resets across
    logic m_rst_s;  // m_rst as the write side sees it
    logic s_rst_m;  // s_rst as the read side sees it

    // The reset levels are slow (held for cycles): no jitter model on them (its event-driven
    // copy of d would make each reset an asynchronous net too).
    sync_2ff #(
        .WIDTH        (1),
        .SIM_JITTER_EN(1'b0)
    ) u_sync_m_rst (
        .clk(s_clk),
        .rst(1'b0),
        .d  (m_rst),
        .q  (m_rst_s)
    );

    sync_2ff #(
        .WIDTH        (1),
        .SIM_JITTER_EN(1'b0)
    ) u_sync_s_rst (
        .clk(m_clk),
        .rst(1'b0),
        .d  (s_rst),
        .q  (s_rst_m)
    );

    assign s_both_rst = s_rst && m_rst_s;
    assign m_both_rst = m_rst && s_rst_m;

    // ------------------------------------------------------------------ write side (s_clk)
    logic [PTR_W-1:0] wr_bin_q;      // words written, mod 2*DEPTH
    logic [PTR_W-1:0] wr_bin_d;
    logic [PTR_W-1:0] wr_gray_q;     // registered gray copy: the only thing that crosses
    logic [PTR_W-1:0] rd_gray_s;     // read pointer synchronized into s_clk
    logic [PTR_W-1:0] rd_gray_q;     // read pointer in gray code (m_clk register, read side)
    logic [PTR_W-1:0] s_level_q;
    logic [PTR_W-1:0] s_level_d;
    logic             full_q;
    logic             tready_q;
    logic             push;

    sync_2ff #(
        .WIDTH        (PTR_W),
        .SIM_JITTER_EN(SIM_JITTER_EN)
    ) u_sync_rd_ptr (
        .clk(s_clk),
        .rst(s_both_rst),
        .d  (rd_gray_q),
        .q  (rd_gray_s)
    );

    always_comb begin
        push      = s_axis_tvalid && tready_q;
        wr_bin_d  = wr_bin_q + PTR_W'(push);
        s_level_d = wr_bin_d - gray2bin(rd_gray_s);
    end

    always_ff @(posedge s_clk) begin
        if (s_both_rst) begin
            wr_bin_q  <= '0;
            wr_gray_q <= '0;
            s_level_q <= '0;
            full_q    <= 1'b0;
            tready_q  <= 1'b0;
        end else begin
            wr_bin_q  <= wr_bin_d;
            wr_gray_q <= bin2gray(wr_bin_d);
            s_level_q <= s_level_d;
            full_q    <= s_level_d[PTR_W-1];  // level == DEPTH (it never exceeds DEPTH)
            tready_q  <= !s_level_d[PTR_W-1] && !s_rst;  // no word taken in a lone s_rst
        end
    end

    always_ff @(posedge s_clk) begin
        if (push) begin
            mem[wr_bin_q[DEPTH_LOG2-1:0]] <= s_axis_tdata;
        end
    end

    assign s_axis_tready = tready_q;
    assign s_full        = full_q;
    assign s_level       = s_level_q;

    // ------------------------------------------------------------------- read side (m_clk)
    logic [PTR_W-1:0]  rd_bin_q;     // words taken from the memory, mod 2*DEPTH
    logic [PTR_W-1:0]  rd_bin_d;
    logic [PTR_W-1:0]  wr_gray_m;    // write pointer synchronized into m_clk
    logic [DATA_W-1:0] out_data_q;
    logic              out_valid_q;
    logic              out_valid_d;
    logic              mem_empty;
    logic              pop;

    sync_2ff #(
        .WIDTH        (PTR_W),
        .SIM_JITTER_EN(SIM_JITTER_EN)
    ) u_sync_wr_ptr (
        .clk(m_clk),
        .rst(m_both_rst),
        .d  (wr_gray_q),
        .q  (wr_gray_m)
    );

    always_comb begin
        mem_empty   = (rd_gray_q == wr_gray_m);
        pop         = !mem_empty && (!out_valid_q || m_axis_tready);
        rd_bin_d    = rd_bin_q + PTR_W'(pop);
        out_valid_d = pop || (out_valid_q && !m_axis_tready);
    end

    always_ff @(posedge m_clk) begin
        if (m_both_rst) begin
            rd_bin_q    <= '0;
            rd_gray_q   <= '0;
            out_valid_q <= 1'b0;
        end else begin
            rd_bin_q    <= rd_bin_d;
            rd_gray_q   <= bin2gray(rd_bin_d);
            out_valid_q <= out_valid_d;
        end
    end

    always_ff @(posedge m_clk) begin
        if (pop) begin
            out_data_q <= mem[rd_bin_q[DEPTH_LOG2-1:0]];
        end
    end

    assign m_axis_tdata  = out_data_q;
    assign m_axis_tvalid = out_valid_q;
    assign m_empty       = !out_valid_q;

endmodule

`resetall
