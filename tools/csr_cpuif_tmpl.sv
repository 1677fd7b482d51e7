// splitrx_csr's CPU interface (tools/gen.py): peakrdl-regblock's passthrough signals, with the
// write answer registered. The read answer is registered inside the block (retime_read_response),
// so every answer leaves the block from a register and pcie_us_cq_cc can use it the clock it
// comes. Writes are answered the clock after their request, reads 2 clocks after.
assign cpuif_req = s_cpuif_req;
assign cpuif_req_is_wr = s_cpuif_req_is_wr;
assign cpuif_addr = s_cpuif_addr;
assign cpuif_wr_data = s_cpuif_wr_data;
assign cpuif_wr_biten = s_cpuif_wr_biten;
assign s_cpuif_req_stall_wr = cpuif_req_stall_wr;
assign s_cpuif_req_stall_rd = cpuif_req_stall_rd;
assign s_cpuif_rd_ack = cpuif_rd_ack;
assign s_cpuif_rd_err = cpuif_rd_err;
assign s_cpuif_rd_data = cpuif_rd_data;

logic wr_ack_q;
logic wr_err_q;
always_ff {{get_always_ff_event(cpuif.reset)}} begin
    if({{get_resetsignal(cpuif.reset)}}) begin
        wr_ack_q <= '0;
        wr_err_q <= '0;
    end else begin
        wr_ack_q <= cpuif_wr_ack;
        wr_err_q <= cpuif_wr_err;
    end
end
assign s_cpuif_wr_ack = wr_ack_q;
assign s_cpuif_wr_err = wr_err_q;
